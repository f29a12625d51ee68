/**
 * Watch a set of files for changes and call back once things have settled. The directories are watched, not the
 * files: editors and tools replace a file by writing a temporary one and renaming it over the old (the old inode,
 * which a file watch would follow, is gone), certbot and Kubernetes swap a symlink (`live/…`, `..data`). Events for
 * other files in those directories are ignored, except Kubernetes' `..data`-style names.
 */
import fs from 'node:fs'
import path from 'node:path'

export interface FileWatchOptions {
  /** Quiet period after the last event before onChange runs (a certificate and its key are usually written together). */
  debounceMs?: number
  /** A directory that cannot be watched (missing, too many watches); the others still are. */
  onError?: (dir: string, error: Error) => void
}

export class FileSetWatcher {
  private readonly watchers = new Map<string, fs.FSWatcher>()
  /** Per directory: the base names that matter there. */
  private readonly interest = new Map<string, Set<string>>()
  private timer: NodeJS.Timeout | undefined
  private closed = false

  constructor(
    files: readonly string[],
    private readonly onChange: () => void,
    private readonly opts: FileWatchOptions = {},
  ) {
    this.update(files)
  }

  /** Watch this set instead (after a reload that changed the paths). */
  update(files: readonly string[]): void {
    const wanted = new Map<string, Set<string>>()
    const add = (file: string) => {
      const dir = path.dirname(file)
      let set = wanted.get(dir)
      if (!set) wanted.set(dir, (set = new Set()))
      set.add(path.basename(file))
    }
    for (const f of files) {
      const abs = path.resolve(f)
      add(abs)
      // A symlink's target may change in place too (its directory is where the new file appears).
      try {
        const real = fs.realpathSync(abs)
        if (real !== abs) add(real)
      } catch {
        // missing now: the directory watch sees it appear
      }
    }
    for (const [dir, w] of this.watchers)
      if (!wanted.has(dir)) {
        w.close()
        this.watchers.delete(dir)
      }
    this.interest.clear()
    for (const [dir, names] of wanted) {
      this.interest.set(dir, names)
      if (!this.watchers.has(dir)) this.watch(dir)
    }
  }

  private watch(dir: string): void {
    let w: fs.FSWatcher
    try {
      w = fs.watch(dir, {persistent: false}, (_event, filename) => this.event(dir, filename === null ? null : String(filename)))
    } catch (error) {
      this.opts.onError?.(dir, error as Error)
      return
    }
    // For the watcher's whole life: a directory that goes away is an 'error' event.
    w.on('error', (error) => {
      w.close()
      if (this.watchers.get(dir) === w) this.watchers.delete(dir)
      this.opts.onError?.(dir, error)
    })
    this.watchers.set(dir, w)
  }

  private event(dir: string, filename: string | null): void {
    if (this.closed) return
    const names = this.interest.get(dir)
    // null: the platform did not say which file; `..data` & co: Kubernetes' atomic symlink swap.
    if (filename !== null && !names?.has(filename) && !filename.startsWith('..')) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (!this.closed) this.onChange()
    }, this.opts.debounceMs ?? 500)
    this.timer.unref()
  }

  /** Directories being watched (for status and tests). */
  get directories(): string[] {
    return [...this.watchers.keys()]
  }

  close(): void {
    this.closed = true
    clearTimeout(this.timer)
    for (const w of this.watchers.values()) w.close()
    this.watchers.clear()
  }
}

/** Environment additions for child tools: `{NO_COLOR: '1'}` when output is not a terminal and nobody asked for colour. */
export function colourEnv(env: Record<string, string | undefined>, isTTY: boolean): Record<string, string>

export interface DockerInstruction {
  op: string
  args: string
}
export interface DockerStage {
  from: string
  name?: string
  instructions: DockerInstruction[]
}
export function parseDockerfile(text: string): {stages: DockerStage[]}
export function dockerignoreMatcher(text: string): (rel: string) => boolean

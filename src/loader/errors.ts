/**
 * Every problem with the user's files (bad safetensors header, wrong shapes, missing
 * tensors, bad config) is reported as a CheckpointError, so callers can tell "your
 * checkpoint is broken" apart from bugs and GPU failures.
 */
export class CheckpointError extends Error {
  /** The file the problem is in (path inside the checkpoint, or the checkpoint name). */
  readonly file: string;
  /** What is wrong, without the file name. */
  readonly problem: string;

  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'CheckpointError';
    this.file = file;
    this.problem = problem;
  }
}

/**
 * Raised for every image we refuse: unknown format, broken or truncated data,
 * zero-size or absurdly large dimensions. The message always names the file,
 * so a CLI user or a browser caller can tell which input was bad.
 */
export class ImageError extends Error {
  readonly file: string;

  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'ImageError';
    this.file = file;
  }
}

declare module 'libmime' {
  interface ParsedHeaderValue {
    value: string;
    params: Record<string, string>;
  }
  class Libmime {
    decodeWord(charset: string, encoding: string, str: string): string;
    decodeWords(value: string): string;
    decodeFlowed(value: string, delSp?: boolean): string;
    detectExtension(mimeType: string): string;
    detectMimeType(filenameOrExtension: string): string;
    normalizeCharset(charset: string): string;
    parseHeaderValue(value: string, options?: { stripComments?: boolean }): ParsedHeaderValue;
  }
  const libmime: Libmime & { Libmime: typeof Libmime };
  export default libmime;
}

declare module 'libmime' {
  const libmime: {
    decodeWords(value: string): string;
    detectExtension(mimeType: string): string;
  };
  export default libmime;
}

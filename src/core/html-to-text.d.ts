// html-to-text ships no types (mailparser depends on it, at the version package.json pins): the one
// function documents.ts calls, with the options it passes (see its README).
declare module 'html-to-text' {
  export function htmlToText(html: string, options?: Record<string, unknown>): string;
}

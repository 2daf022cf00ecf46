// html-to-text ships no types; this declares the part the parser uses.
declare module 'html-to-text' {
  interface SelectorDefinition {
    selector: string;
    format?: string;
    options?: Record<string, unknown>;
  }
  interface HtmlToTextOptions {
    limits?: { maxDepth?: number; maxInputLength?: number };
    selectors?: SelectorDefinition[];
    wordwrap?: number | false | null;
  }
  export function convert(html: string, options?: HtmlToTextOptions): string;
  /** The converter for `options`, built once: convert() builds it again on every call. */
  export function compile(options?: HtmlToTextOptions): (html: string) => string;
}

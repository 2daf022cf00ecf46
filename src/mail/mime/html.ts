import { compile } from 'html-to-text';
import sanitizeHtml from 'sanitize-html';

/** Deeper HTML than this is cut off when converted to text, as mailparser does. */
const MAX_HTML_DEPTH = 500;

/**
 * A style declaration that loads from elsewhere (CSS url(), image-set() and kin, @import) or runs
 * script (old IE expression(), behaviors, XBL bindings); one with a CSS escape is dropped as well,
 * as escapes can spell any of those (\75 rl( is url().
 */
const LOADING_STYLE = /\\|(?:url|image|image-set|cross-fade|element|expression)\s*\(|@import|behavior\s*:|-moz-binding|\/\//i;
/** Inline images a message carries itself; data: URLs of other types (SVG, HTML) are refused. */
const DATA_IMAGE = /^data:image\/(?:png|gif|jpe?g|webp|bmp);/i;

const PRESENTATION = ['align', 'valign', 'width', 'height', 'bgcolor', 'color', 'border', 'dir', 'lang', 'title', 'style', 'class'];

function withoutLoadingStyle(attribs: sanitizeHtml.Attributes): sanitizeHtml.Attributes {
  const { style, ...rest } = attribs;
  const kept = style
    ?.split(';')
    .filter((d) => d.trim() !== '' && !LOADING_STYLE.test(d))
    .join(';');
  return kept ? { ...rest, style: kept } : rest;
}

const OPTIONS: sanitizeHtml.IOptions = {
  allowedTags: [...sanitizeHtml.defaults.allowedTags, 'img', 'font', 'center', 'big', 'strike', 'tt', 'del', 'ins'],
  // Scripts, styles sheets and the head (title, meta refresh, base) say nothing to a reader.
  nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'title', 'head', 'xml'],
  allowedAttributes: {
    '*': PRESENTATION,
    a: ['href', 'name', 'target'],
    img: ['src', 'alt'],
    font: ['face', 'size'],
    table: ['cellpadding', 'cellspacing', 'summary'],
    td: ['colspan', 'rowspan', 'nowrap'],
    th: ['colspan', 'rowspan', 'nowrap', 'scope'],
    ol: ['start', 'type'],
  },
  // Nothing loads until the reader consents: images only from the message itself (cid:) or inline data.
  allowedSchemes: ['http', 'https', 'mailto', 'tel'],
  allowedSchemesByTag: { img: ['cid', 'data'] },
  allowedSchemesAppliedToAttributes: ['href', 'src'],
  allowProtocolRelative: false,
  transformTags: {
    '*': (tagName, attribs) => ({ tagName, attribs: withoutLoadingStyle(attribs) }),
    img: (tagName, attribs) => {
      const { src, ...rest } = withoutLoadingStyle(attribs);
      const local = src !== undefined && (/^cid:/i.test(src.trim()) || DATA_IMAGE.test(src.trim()));
      return { tagName, attribs: local ? { ...rest, src } : rest };
    },
  },
};

/** HTML safe to display: no script, no event handler, nothing loaded from elsewhere (cid: and data: images stay). */
export function sanitiseHtml(html: string): string {
  return sanitizeHtml(html, OPTIONS);
}

// Built once: building the converter costs more than most conversions.
const toText = compile({
  limits: { maxDepth: MAX_HTML_DEPTH },
  selectors: [
    { selector: 'img', format: 'skip' },
    { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
  ],
});

/** The text a reader sees in `html`, for a message that has no text body of its own. */
export function htmlToText(html: string): string {
  return toText(html);
}

// What the mock API charges for images and PDFs, by each provider's
// documented rule, written here apart from headroom's own estimator so that
// tests measure one against the other:
// - Anthropic (vision guide): scale an image down, aspect kept, until its
//   long edge is at most 1,568 px (2,576 on Claude Opus 4.7) and it takes at
//   most about 1,600 tokens (5,000 on Opus 4.7); then width × height / 750.
// - OpenAI (vision guide, GPT-4o's rule): 85 tokens at low detail; at high
//   detail fit in 2,048 × 2,048, then the shortest side to 768 px, and 170
//   per 512-px tile, plus 85.
// - PDFs (Anthropic's PDF guide: each page is its text, 1,500 to 3,000
//   tokens, and its image): pages × (3,000 + the most one image costs).
// Sizes come from the image-size package; pages from counting the page
// objects of the file.
import { imageSize } from "image-size";

export function anthropicImageTokens(width, height, model = "") {
  const [maxEdge, maxTokens] = model.startsWith("claude-opus-4-7") ? [2576, 5000] : [1568, 1600];
  const scale = Math.min(1, maxEdge / Math.max(width, height), Math.sqrt((maxTokens * 750) / (width * height)));
  return Math.min(maxTokens, Math.ceil((Math.floor(width * scale) * Math.floor(height * scale)) / 750));
}

export function openaiImageTokens(width, height, detail = "auto") {
  if (detail === "low") return 85;
  const fit = Math.min(1, 2048 / Math.max(width, height));
  const [w1, h1] = [width * fit, height * fit];
  const short = Math.min(1, 768 / Math.min(w1, h1));
  const [w, h] = [Math.floor(w1 * short), Math.floor(h1 * short)];
  return 85 + 170 * Math.ceil(w / 512) * Math.ceil(h / 512);
}

export function pdfPages(bytes) {
  return (Buffer.from(bytes).toString("latin1").match(/\/Type\s*\/Page(?![a-zA-Z])/g) ?? []).length;
}

const PDF_PAGE_TEXT = 3000;

/** Bytes of a base64 string or of a data URL's base64 part. */
function payloadBytes(text) {
  const comma = text.startsWith("data:") ? text.indexOf(",") : -1;
  return Buffer.from(text.slice(comma + 1), "base64");
}

/**
 * The tokens of a content block or part that is an image or a document, or
 * null for anything else.
 */
export function mediaTokens(block, model = "") {
  if (!block || typeof block !== "object") return null;
  const anthropicImage = (data) => {
    const { width, height } = imageSize(payloadBytes(data));
    return anthropicImageTokens(width, height, model);
  };
  const anthropicMax = anthropicImageTokens(10_000, 10_000, model);
  const openaiMax = openaiImageTokens(768, 2048, "high");
  switch (block.type) {
    case "image":
      return block.source?.type === "base64" ? anthropicImage(block.source.data) : anthropicMax;
    case "document":
      if (block.source?.type === "text") return Math.ceil(String(block.source.data).length / 4);
      if (block.source?.type === "base64") return pdfPages(payloadBytes(block.source.data)) * (PDF_PAGE_TEXT + anthropicMax);
      return null;
    case "image_url": {
      const { url, detail } = typeof block.image_url === "string" ? { url: block.image_url } : block.image_url ?? {};
      if (!url?.startsWith("data:")) return openaiMax;
      const { width, height } = imageSize(payloadBytes(url));
      return openaiImageTokens(width, height, detail);
    }
    case "file": {
      const data = block.file?.file_data;
      return data ? pdfPages(payloadBytes(data)) * (PDF_PAGE_TEXT + openaiMax) : null;
    }
    default:
      return null;
  }
}

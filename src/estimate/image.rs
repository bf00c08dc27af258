//! What an image costs: its size, read from the first bytes of its file,
//! and each provider's rule for turning a size into tokens.
//!
//! Sizes come from the headers of PNG, GIF, WebP and JPEG files (the four
//! formats both providers take); no pixel is decoded. A JPEG's size is in its
//! start-of-frame segment, after any metadata (EXIF, ICC profiles): the
//! segments before it are skipped by their lengths, reading a few bytes each.

use super::payload::Payload;

/// Segments of a JPEG passed over before giving up on finding its size.
const MAX_JPEG_SEGMENTS: usize = 64;

/// The width and height of an image, from its header.
pub fn dimensions(image: &Payload) -> Option<(u32, u32)> {
    let head = image.bytes(0, 32);
    let u16_le = |at: usize| Some(u32::from(u16::from_le_bytes([*head.get(at)?, *head.get(at + 1)?])));
    let u24_le = |at: usize| Some(u32::from_le_bytes([*head.get(at)?, *head.get(at + 1)?, *head.get(at + 2)?, 0]));
    let u32_be = |at: usize| Some(u32::from_be_bytes(head.get(at..at + 4)?.try_into().ok()?));
    let size = match head.get(..4)? {
        // PNG (ISO/IEC 15948 §5.2, §11.2.2): the signature, then IHDR with
        // width and height as big-endian u32 at bytes 16 and 20.
        [0x89, b'P', b'N', b'G'] => (u32_be(16)?, u32_be(20)?),
        // GIF (GIF89a §18): the logical screen's width and height,
        // little-endian u16 at bytes 6 and 8.
        [b'G', b'I', b'F', b'8'] => (u16_le(6)?, u16_le(8)?),
        // WebP (RFC 9649): RIFF, WEBP, then the first chunk.
        [b'R', b'I', b'F', b'F'] if head.get(8..12)? == b"WEBP" => match head.get(12..16)? {
            // Lossy (RFC 6386 §9.1): 14-bit sizes after the frame's start code.
            b"VP8 " => (u16_le(26)? & 0x3FFF, u16_le(28)? & 0x3FFF),
            // Lossless (RFC 9649 §3.8.1): 14 bits each of width − 1 and
            // height − 1, after the signature byte 0x2F.
            b"VP8L" => {
                let bits = u32::from_le_bytes(head.get(21..25)?.try_into().ok()?);
                ((bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1)
            }
            // Extended (RFC 9649 §3.7): 24-bit canvas width − 1 and height − 1.
            b"VP8X" => (u24_le(24)? + 1, u24_le(27)? + 1),
            _ => return None,
        },
        [0xFF, 0xD8, ..] => jpeg_dimensions(image)?,
        _ => return None,
    };
    (size.0 > 0 && size.1 > 0).then_some(size)
}

/// A JPEG's size (ITU-T T.81 §B.2): walk the segments from the start of
/// image to the first start-of-frame marker (SOF0–SOF15 but DHT, JPG and
/// DAC), whose height and width are big-endian u16 at bytes 3 and 5 of it.
fn jpeg_dimensions(image: &Payload) -> Option<(u32, u32)> {
    let mut at = 2;
    for _ in 0..MAX_JPEG_SEGMENTS {
        let bytes = image.bytes(at, 9);
        let (&[0xFF, marker], rest) = bytes.split_first_chunk::<2>()? else {
            return None;
        };
        match marker {
            // Fill bytes before a marker.
            0xFF => at += 1,
            // Markers without a length: TEM, RSTn, SOI.
            0x01 | 0xD0..=0xD8 => at += 2,
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let height = u16::from_be_bytes([*rest.get(3)?, *rest.get(4)?]);
                let width = u16::from_be_bytes([*rest.get(5)?, *rest.get(6)?]);
                return Some((u32::from(width), u32::from(height)));
            }
            // Start of scan or end of image before any frame: not a JPEG we can size.
            0xD9 | 0xDA => return None,
            _ => at += 2 + usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?])),
        }
    }
    None
}

/// Anthropic's rule for one image, as its vision guide documents it: an
/// image whose long edge is over the model's limit, or that would take more
/// than its token limit, is first scaled down (aspect kept) to fit both;
/// then it costs about width × height / 750 tokens. (The guide now also
/// describes 28 × 28-pixel patches, one token each: within 5 % of this for
/// images over 300 px, and below it for most.)
pub fn anthropic_tokens(width: u32, height: u32, model: Option<&str>) -> f64 {
    let (max_edge, max_tokens) = anthropic_limits(model);
    let (w, h) = (f64::from(width), f64::from(height));
    let by_edge = max_edge / w.max(h);
    let by_area = (max_tokens * 750.0 / (w * h)).sqrt();
    let scale = by_edge.min(by_area).min(1.0);
    let (w, h) = ((w * scale).floor().max(1.0), (h * scale).floor().max(1.0));
    (w * h / 750.0).ceil().min(max_tokens)
}

/// The most one image costs on an Anthropic model: what an image given by
/// URL or file id is reckoned at.
pub fn anthropic_max_tokens(model: Option<&str>) -> f64 {
    anthropic_limits(model).1
}

/// A model's longest edge and most tokens for one image. Claude Opus 4.7
/// takes images up to 2,576 px on the long edge (about 3.75 megapixels, so
/// 5,000 tokens); earlier models 1,568 px and about 1,600 tokens
/// (1.15 megapixels).
fn anthropic_limits(model: Option<&str>) -> (f64, f64) {
    match model {
        Some(m) if m.starts_with("claude-opus-4-7") => (2576.0, 5000.0),
        _ => (1568.0, 1600.0),
    }
}

/// OpenAI's detail setting of an image part: `low`, or `high` (and `auto`,
/// which may choose high, counted as high).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Detail {
    Low,
    High,
}

/// How an OpenAI model counts an image (OpenAI's vision guide, "Calculating
/// costs"): by 512-px tiles after scaling, or by 32-px patches times a
/// multiplier.
enum OpenAiRule {
    /// `base` for any image, plus `tile` per 512-px tile at high detail.
    Tiles { base: f64, tile: f64 },
    /// One token per 32-px patch (at most 1,536, scaling down to fit),
    /// times `multiplier`.
    Patches { multiplier: f64 },
}

/// The rule of a model, by its name's longest known prefix; others (and
/// unknown models) count tiles as GPT-4o does.
fn openai_rule(model: Option<&str>) -> OpenAiRule {
    const RULES: [(&str, OpenAiRule); 10] = [
        ("gpt-4.1-mini", OpenAiRule::Patches { multiplier: 1.62 }),
        ("gpt-4.1-nano", OpenAiRule::Patches { multiplier: 2.46 }),
        ("gpt-5-mini", OpenAiRule::Patches { multiplier: 1.62 }),
        ("gpt-5-nano", OpenAiRule::Patches { multiplier: 2.46 }),
        ("o4-mini", OpenAiRule::Patches { multiplier: 1.72 }),
        ("gpt-4o-mini", OpenAiRule::Tiles { base: 2833.0, tile: 5667.0 }),
        ("gpt-5", OpenAiRule::Tiles { base: 70.0, tile: 140.0 }),
        ("o1", OpenAiRule::Tiles { base: 75.0, tile: 150.0 }),
        ("o3", OpenAiRule::Tiles { base: 75.0, tile: 150.0 }),
        ("computer-use-preview", OpenAiRule::Tiles { base: 65.0, tile: 129.0 }),
    ];
    let model = model.unwrap_or("");
    RULES.into_iter().find(|(prefix, _)| model.starts_with(prefix)).map_or(OpenAiRule::Tiles { base: 85.0, tile: 170.0 }, |(_, rule)| rule)
}

/// OpenAI's cost of one image of `width` × `height` at `detail`.
/// Tiles: at low detail the base alone; at high detail, scale to fit in
/// 2,048 × 2,048, then so that the shortest side is at most 768 px, and add
/// the tile cost for each 512-px square that covers it. Patches: 32-px
/// patches, the image scaled down until at most 1,536 cover it.
pub fn openai_tokens(width: u32, height: u32, detail: Detail, model: Option<&str>) -> f64 {
    let (w, h) = (f64::from(width), f64::from(height));
    match openai_rule(model) {
        OpenAiRule::Tiles { base, .. } if detail == Detail::Low => base,
        OpenAiRule::Tiles { base, tile } => {
            let fit = (2048.0 / w.max(h)).min(1.0);
            let (w, h) = (w * fit, h * fit);
            let short = (768.0 / w.min(h)).min(1.0);
            let (w, h) = ((w * short).floor(), (h * short).floor());
            base + tile * (w / 512.0).ceil() * (h / 512.0).ceil()
        }
        OpenAiRule::Patches { multiplier } => {
            const MAX_PATCHES: f64 = 1536.0;
            let patches = |w: f64, h: f64| (w / 32.0).ceil() * (h / 32.0).ceil();
            let mut count = patches(w, h);
            if count > MAX_PATCHES {
                let scale = (MAX_PATCHES * 32.0 * 32.0 / (w * h)).sqrt();
                // Shrink so that whole patches cover each side exactly.
                let scale = scale * ((w * scale / 32.0).floor() / (w * scale / 32.0)).min((h * scale / 32.0).floor() / (h * scale / 32.0));
                count = patches((w * scale).floor(), (h * scale).floor()).min(MAX_PATCHES);
            }
            (count * multiplier).ceil()
        }
    }
}

/// The most one image costs on an OpenAI model at `detail`: what an image
/// given by URL or file id is reckoned at. At high detail the largest tiling
/// is 768 × 2,048 (2 × 4 tiles).
pub fn openai_max_tokens(detail: Detail, model: Option<&str>) -> f64 {
    openai_tokens(768, 2048, detail, model).max(openai_tokens(2048, 2048, detail, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_examples_from_the_vision_guide() {
        // "200x200 px: ~54 tokens; 1000x1000: ~1334; 1092x1092: ~1590."
        assert_eq!(anthropic_tokens(200, 200, None), 54.0);
        assert_eq!(anthropic_tokens(1000, 1000, None), 1334.0);
        assert_eq!(anthropic_tokens(1092, 1092, None), 1590.0);
        // The sizes the guide gives as the largest per aspect ratio cost
        // about 1,600 tokens, and anything larger is scaled to them.
        for (w, h) in [(951, 1268), (896, 1344), (819, 1456), (784, 1568)] {
            let t = anthropic_tokens(w, h, None);
            assert!((1590.0..=1640.0).contains(&t), "{w}x{h}: {t}");
            let big = anthropic_tokens(w * 4, h * 4, None);
            assert!((big - t).abs() <= t * 0.02, "{w}x{h} × 4: {big} against {t}");
        }
        // A long edge over 1,568 px is scaled to it even below the area limit.
        assert_eq!(anthropic_tokens(3136, 200, None), anthropic_tokens(1568, 100, None));
    }

    #[test]
    fn opus_4_7_takes_larger_images() {
        assert_eq!(anthropic_tokens(2000, 1500, Some("claude-opus-4-7")), 4000.0);
        assert_eq!(anthropic_tokens(2000, 1500, Some("claude-sonnet-4-6")), anthropic_tokens(2000, 1500, None));
        assert!(anthropic_tokens(8000, 8000, Some("claude-opus-4-7")) <= 5000.0);
        assert_eq!(anthropic_max_tokens(Some("claude-opus-4-7")), 5000.0);
        assert_eq!(anthropic_max_tokens(None), 1600.0);
    }

    #[test]
    fn openai_examples_from_the_vision_guide() {
        // "A 1024 x 1024 square image in detail: high mode costs 765 tokens";
        // "A 2048 x 4096 image in detail: high mode costs 1105 tokens";
        // "A 4096 x 8192 image in detail: low most costs 85 tokens".
        assert_eq!(openai_tokens(1024, 1024, Detail::High, Some("gpt-4o")), 765.0);
        assert_eq!(openai_tokens(2048, 4096, Detail::High, Some("gpt-4o")), 1105.0);
        assert_eq!(openai_tokens(4096, 8192, Detail::Low, Some("gpt-4o")), 85.0);
        // A small image is one tile.
        assert_eq!(openai_tokens(300, 200, Detail::High, None), 255.0);
        // Patch models: "1024 x 1024: 1024 patches"; "1800 x 2400: 1452".
        assert_eq!(openai_tokens(1024, 1024, Detail::High, Some("gpt-4.1-mini")), (1024.0 * 1.62f64).ceil());
        assert_eq!(openai_tokens(1800, 2400, Detail::High, Some("gpt-4.1-mini")), (1452.0 * 1.62f64).ceil());
        assert_eq!(openai_tokens(1024, 1024, Detail::High, Some("gpt-4o-mini-2024-07-18")), 2833.0 + 4.0 * 5667.0);
        assert_eq!(openai_max_tokens(Detail::High, Some("gpt-4o")), 85.0 + 8.0 * 170.0);
        assert_eq!(openai_max_tokens(Detail::Low, Some("gpt-4o")), 85.0);
    }
}

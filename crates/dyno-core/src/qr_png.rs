//! QR codes as PNG images (the PPM `qr_payload`): `qrcode` for the symbol, `png` for the file.
//! Invariant: the image is a 1-bit greyscale PNG with a 4-module quiet zone, scannable as is.

use png::{BitDepth, ColorType, Compression, Encoder};
use qrcode::{Color, EcLevel, QrCode};

/// Pixels per module: large enough for a phone camera at arm's length on a POS screen, and
/// exactly one byte of a 1-bit row.
pub const MODULE_PX: usize = 8;
const QUIET_ZONE: usize = 4;

/// Renders `data` as a QR code PNG (error correction level M).
pub fn render_png(data: &str) -> Result<Vec<u8>, String> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
        .map_err(|e| e.to_string())?;
    let modules = code.width();
    let colors = code.to_colors();
    // At 8 px per module in 1-bit greyscale, one module is exactly one byte (1 is white): a module
    // row is built once, byte by byte, then copied for its 8 pixel rows.
    let row_bytes = modules + 2 * QUIET_ZONE;
    let side = row_bytes * MODULE_PX;
    let mut pixels = Vec::with_capacity(row_bytes * side);
    let white = vec![0xFFu8; row_bytes];
    for _ in 0..QUIET_ZONE * MODULE_PX {
        pixels.extend_from_slice(&white);
    }
    let mut row = white.clone();
    for y in 0..modules {
        for (x, byte) in row[QUIET_ZONE..QUIET_ZONE + modules].iter_mut().enumerate() {
            *byte = if colors[y * modules + x] == Color::Dark {
                0x00
            } else {
                0xFF
            };
        }
        for _ in 0..MODULE_PX {
            pixels.extend_from_slice(&row);
        }
    }
    for _ in 0..QUIET_ZONE * MODULE_PX {
        pixels.extend_from_slice(&white);
    }
    let mut out = Vec::with_capacity(4_096);
    {
        let mut encoder = Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(ColorType::Grayscale);
        encoder.set_depth(BitDepth::One);
        // Long runs of 0x00 and 0xFF: the fast deflate level compresses them nearly as well.
        encoder.set_compression(Compression::Fast);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// The PNG as standard base64, the seed's `qr_payload` (it starts with `iVBORw0KGgo`).
pub fn render_png_base64(data: &str) -> Result<String, String> {
    use base64::Engine;
    render_png(data).map(|png| base64::engine::general_purpose::STANDARD.encode(png))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_png_that_decodes_back_to_the_data() {
        let link = "https://sandbox.dyno-motiva.com/wallet.html#pr=7c9e6679-7425-40de-944b-e07fc1f90ae7&sig=abcdefghijklmnopqrstuv";
        assert!(render_png_base64(link).unwrap().starts_with("iVBORw0KGgo"));
        let png_bytes = render_png(link).unwrap();
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(png_bytes.len() < 4_000, "{} bytes", png_bytes.len());

        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let row = info.line_size;
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
            if buf[y * row + x / 8] & (0x80 >> (x % 8)) != 0 {
                255
            } else {
                0
            }
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, link);
    }
}

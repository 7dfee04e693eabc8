//! A QR code drawn in the terminal with Unicode half blocks (two modules per character, so the
//! symbol stays square). Invariant: the drawing keeps a quiet zone and decodes back to exactly
//! the text it was made from (see the tests, which scan it).

use qrcode::render::unicode::Dense1x2;
use qrcode::{EcLevel, QrCode};

/// Which colour the terminal paints a block: on a dark background a block is the light part of
/// the symbol, on a light background the dark part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    Dark,
    Light,
}

/// `text` as lines of half blocks, with a 4-module quiet zone.
pub fn render(text: &str, background: Background) -> Result<String, String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| format!("QR impossible à dessiner : {e}"))?;
    let mut renderer = code.render::<Dense1x2>();
    renderer.quiet_zone(true);
    if background == Background::Dark {
        renderer
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark);
    }
    Ok(renderer.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a drawing back into pixels (4 per module) and scans it, as a phone would.
    fn scan(drawing: &str, background: Background) -> String {
        const SCALE: usize = 4;
        let mut modules: Vec<Vec<bool>> = Vec::new(); // true: the block's colour
        for line in drawing.lines() {
            let (top, bottom): (Vec<bool>, Vec<bool>) = line
                .chars()
                .map(|c| match c {
                    '█' => (true, true),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    ' ' => (false, false),
                    other => panic!("unexpected character {other:?}"),
                })
                .unzip();
            modules.push(top);
            modules.push(bottom);
        }
        let width = modules[0].len();
        let block_is_light = background == Background::Dark;
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(
            width * SCALE,
            modules.len() * SCALE,
            |x, y| {
                let block = modules[y / SCALE][x / SCALE];
                if block == block_is_light {
                    255
                } else {
                    0
                }
            },
        );
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in the drawing");
        grids[0].decode().expect("the drawing decodes").1
    }

    #[test]
    fn the_drawing_scans_back_to_the_link_on_either_background() {
        let link = "http://127.0.0.1:8787/wallet.html#pr=7c9e6679-7425-40de-944b-e07fc1f90ae7&sig=AbCdEfGhIjKlMnOpQrStUv";
        for background in [Background::Dark, Background::Light] {
            let drawing = render(link, background).expect("render");
            let widths: Vec<usize> = drawing.lines().map(|l| l.chars().count()).collect();
            assert!(widths.iter().all(|w| *w == widths[0]), "a rectangle");
            assert!(
                widths[0] >= 2 * drawing.lines().count() - 1,
                "two modules per line keep it square"
            );
            assert_eq!(scan(&drawing, background), link);
        }
    }

    #[test]
    fn the_quiet_zone_is_the_light_colour() {
        let drawing = render("x", Background::Dark).expect("render");
        let first = drawing.lines().next().expect("a line");
        assert!(first.chars().all(|c| c == '█'), "{first:?}");
    }
}

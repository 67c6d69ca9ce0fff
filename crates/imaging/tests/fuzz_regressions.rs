//! The fuzz targets' inputs kept as tests: every file in
//! `tests/fixtures/fuzz/probe/` and `tests/fixtures/fuzz/jpeg_decode/`
//! (reproducers of what `make fuzz` found, and minimized corpus entries)
//! goes through the same entry points with the same small limits as
//! `fuzz/fuzz_targets/{probe,jpeg_decode}.rs`, and must end in a typed
//! result, not a panic; the reproducers must end in their exact error.

// Test helpers outside #[test] fns: a panic is how they report failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use thumbflow_imaging::render::DCT_GAP;
use thumbflow_imaging::{probe, render, Fit, ImagingError, Limits, Recipe, Rendered};

/// The fuzz targets' limits: 4 megapixels, 64 MiB.
fn fuzz_limits() -> Limits {
    Limits {
        max_pixels: 4_000_000,
        max_side: 4_096,
        max_input_bytes: 1 << 20,
        max_frames: 100,
        memory_budget: 64 << 20,
    }
}

/// Every file of `tests/fixtures/fuzz/<target>/`, by name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/fuzz")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let inputs: Vec<_> = files
        .iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(path).unwrap())
        })
        .collect();
    assert!(
        inputs.len() >= 2,
        "{} should hold the {target} fuzz inputs",
        dir.display()
    );
    inputs
}

fn fixture(target: &str, name: &str) -> Vec<u8> {
    inputs(target)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no fuzz input {target}/{name}"))
        .1
}

/// What the `jpeg_decode` target does for one decode scale: a one-row
/// `exact` recipe as wide as a decode at `1/denom` allows, so `render`
/// decodes at that scale (or finer, for images too small for it).
fn render_at(bytes: &[u8], denom: u32) -> Result<Vec<Rendered>, ImagingError> {
    let limits = fuzz_limits();
    let (width, _) = probe(bytes, &limits)?.displayed_size();
    let box_width = (f64::from(width) / (f64::from(denom) * DCT_GAP)).floor();
    let recipe = Recipe {
        width: (box_width as u32).max(1),
        height: 1,
        fit: Fit::Exact,
        ..Recipe::default()
    };
    render(bytes, std::slice::from_ref(&recipe), &limits)
}

#[test]
fn fuzz_probe_inputs_give_typed_results() {
    let limits = fuzz_limits();
    for (name, bytes) in inputs("probe") {
        match probe(&bytes, &limits) {
            Ok(info) => {
                assert!(
                    u64::from(info.width) * u64::from(info.height) <= limits.max_pixels,
                    "{name}: {info:?}"
                );
                assert!((1..=8).contains(&info.orientation), "{name}: {info:?}");
            }
            Err(err) => assert!(!err.is_retryable(), "{name}: {err}"),
        }
    }
}

#[test]
fn fuzz_jpeg_decode_inputs_give_typed_results_at_every_scale() {
    for (name, bytes) in inputs("jpeg_decode") {
        for denom in [8, 4, 2, 1] {
            match render_at(&bytes, denom) {
                Ok(out) => assert_eq!(out.len(), 1, "{name} at 1/{denom}"),
                Err(err) => assert!(!err.is_retryable(), "{name} at 1/{denom}: {err}"),
            }
        }
    }
}

/// 1500 progressive scans that each code one end-of-band run over all
/// 62500 blocks of a 2000x2000 image: 32 KB that took our decoder 18 s per
/// decode in the fuzz harness (its `-timeout` is 10 s). Refused at every
/// scale now, by our decoder and by zune-jpeg (full size) alike.
#[test]
fn fuzz_jpeg_thousands_of_progressive_scans_are_refused_at_every_scale() {
    let bytes = fixture("jpeg_decode", "progressive-1500-scans.jpg");
    for denom in [8, 4, 2, 1] {
        match render_at(&bytes, denom) {
            Err(ImagingError::Decode(message)) => assert!(
                message.to_lowercase().contains("scans"),
                "1/{denom}: {message}"
            ),
            Err(other) => panic!("1/{denom}: expected a decode error, got {other:?}"),
            Ok(_) => panic!("1/{denom}: rendered; expected a decode error"),
        }
    }
}

/// A progressive grey `side` x `side` JPEG of `scans` scans: one DC scan,
/// then AC scans that each code a single end-of-band run over every block
/// (one Huffman code per scan: `side` is at most 1448).
fn progressive_with_scans(side: u16, scans: usize) -> Vec<u8> {
    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let len = u16::try_from(payload.len() + 2).unwrap();
        let mut out = vec![0xFF, marker];
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }
    let blocks = usize::from(side.div_ceil(8)).pow(2);
    assert!(blocks <= 32_767, "one end-of-band run covers 32767 blocks");
    let mut jpeg = vec![0xFF, 0xD8];
    jpeg.extend(segment(0xDB, &[[0u8].as_slice(), &[1; 64]].concat()));
    let mut sof = vec![8];
    sof.extend_from_slice(&side.to_be_bytes());
    sof.extend_from_slice(&side.to_be_bytes());
    sof.extend_from_slice(&[1, 1, 0x11, 0]);
    jpeg.extend(segment(0xC2, &sof));
    // DC table 0 and AC table 0: a single 1-bit code, `0`, for
    // "difference 0" and for "end-of-band run, 14 more bits" respectively.
    let one_code = |class: u8, symbol: u8| {
        let mut t = vec![class, 1];
        t.extend_from_slice(&[0; 15]);
        t.push(symbol);
        t
    };
    jpeg.extend(segment(0xC4, &one_code(0x00, 0x00)));
    jpeg.extend(segment(0xC4, &one_code(0x10, 0xE0)));
    // DC scan: one `0` bit per block.
    jpeg.extend(segment(0xDA, &[1, 1, 0x00, 0, 0, 0x00]));
    jpeg.extend(vec![0u8; blocks.div_ceil(8)]);
    for _ in 1..scans {
        jpeg.extend(segment(0xDA, &[1, 1, 0x00, 1, 63, 0x00]));
        // `0` then 14 one bits (a run of 32767 blocks), padded with ones;
        // the 0xFF byte is stuffed.
        jpeg.extend_from_slice(&[0x7F, 0xFF, 0x00]);
    }
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

/// 100 scans are accepted and 101 refused, at every scale: our decoder's
/// cap is zune-jpeg's, so which decoder a recipe set picks never decides
/// whether an image renders.
#[test]
fn fuzz_jpeg_progressive_scan_cap_is_the_same_at_every_scale() {
    let at_cap = progressive_with_scans(64, 100);
    let over_cap = progressive_with_scans(64, 101);
    for denom in [8, 4, 2, 1] {
        let out =
            render_at(&at_cap, denom).unwrap_or_else(|e| panic!("100 scans at 1/{denom}: {e}"));
        assert_eq!(out.len(), 1);
        let err = render_at(&over_cap, denom).unwrap_err();
        assert!(
            matches!(&err, ImagingError::Decode(m) if m.to_lowercase().contains("scans")),
            "101 scans at 1/{denom}: {err:?}"
        );
    }
}

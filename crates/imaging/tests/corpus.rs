//! Renders every photo of the shared corpus (`MANIFEST.tsv`) with the default
//! recipe: real camera-sized JPEGs (baseline, progressive, CMYK, EXIF-rotated),
//! PNG (8/16-bit, RGBA, palette), animated GIF, WebP, BMP and TIFF.
//!
//! The corpus is not committed (most of it is CC-BY/GPL); the test looks in
//! `$THUMBFLOW_CORPUS`, else `<workspace>/../shared/corpus`, and says loudly
//! on stderr (not captured by the test harness) when it skipped.

// Test helpers outside #[test] fns: a panic is how they report failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{decode_rgb, mad};
use image::metadata::Orientation;
use image::{DynamicImage, RgbImage};
use thumbflow_imaging::{fit_dimensions, render, Limits, OutputFormat, Recipe};

/// Tolerance for "the same picture" (mean absolute difference, 0..=255).
const SAME: f64 = 4.0;

fn corpus_dir() -> PathBuf {
    match std::env::var_os("THUMBFLOW_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    }
}

/// Writes straight to the process's stderr: libtest captures `eprintln!`,
/// but not this, so the line shows up in plain `cargo test` output.
fn announce(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// One manifest row: file name and displayed size.
struct Entry {
    file: String,
    display: (u32, u32),
}

fn read_manifest(dir: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("reading MANIFEST.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("empty manifest").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("MANIFEST.tsv has no {name} column"))
    };
    let (file_col, display_col) = (col("file"), col("display_wxh"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let (w, h) = fields[display_col]
                .split_once('x')
                .unwrap_or_else(|| panic!("bad display_wxh in {line}"));
            Entry {
                file: fields[file_col].to_owned(),
                display: (w.parse().unwrap(), h.parse().unwrap()),
            }
        })
        .collect()
}

/// Renders one file with the default recipe and checks size and format;
/// returns the decoded thumbnail or a description of what went wrong.
fn render_checked(dir: &Path, entry: &Entry) -> Result<RgbImage, String> {
    let bytes = std::fs::read(dir.join(&entry.file)).map_err(|e| format!("reading: {e}"))?;
    let recipe = Recipe::default();
    let out = render(&bytes, std::slice::from_ref(&recipe), &Limits::default())
        .map_err(|e| format!("render failed: {e}"))?;
    let [thumb] = out.as_slice() else {
        return Err(format!("{} outputs for one recipe", out.len()));
    };
    let want = fit_dimensions(entry.display.0, entry.display.1, &recipe);
    if (thumb.width, thumb.height) != want || thumb.format != OutputFormat::Jpeg {
        return Err(format!(
            "got {}x{} {:?}, want {}x{} Jpeg",
            thumb.width, thumb.height, thumb.format, want.0, want.1
        ));
    }
    if image::guess_format(&thumb.bytes).ok() != Some(image::ImageFormat::Jpeg) {
        return Err("output is not a JPEG".to_owned());
    }
    let img = decode_rgb(&thumb.bytes);
    if img.dimensions() != want {
        return Err(format!(
            "encoded JPEG is {:?}, want {want:?}",
            img.dimensions()
        ));
    }
    Ok(img)
}

fn oriented(img: &RgbImage, exif: u8) -> RgbImage {
    let mut d = DynamicImage::ImageRgb8(img.clone());
    d.apply_orientation(Orientation::from_exif(exif).expect("valid orientation"));
    d.to_rgb8()
}

#[test]
fn corpus_every_manifest_file_renders_as_default_thumbnail() {
    let dir = corpus_dir();
    if !dir.join("MANIFEST.tsv").is_file() {
        let why = format!(
            "corpus not found at {}: corpus-wide test skipped (set THUMBFLOW_CORPUS)",
            dir.display()
        );
        // `.ci/run` names the corpus in THUMBFLOW_REQUIRE when it is there:
        // then a corpus that cannot be read is a failure, not a skip.
        let required = std::env::var("THUMBFLOW_REQUIRE").unwrap_or_default();
        assert!(!required.split(',').any(|p| p.trim() == "corpus"), "{why}");
        announce(&why);
        let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-skips.txt");
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(
                file,
                "SKIPPED corpus_every_manifest_file_renders_as_default_thumbnail (corpus): {why}"
            );
        }
        return;
    }
    let dir = dir.canonicalize().unwrap_or(dir);
    let entries = read_manifest(&dir);
    assert!(!entries.is_empty(), "MANIFEST.tsv lists no files");
    let started = Instant::now();

    // Two workers: the corpus has several 20 MP JPEGs.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let results: Vec<(String, Result<RgbImage, String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (dir, entries) = (&dir, &entries);
                scope.spawn(move || {
                    entries
                        .iter()
                        .skip(w)
                        .step_by(workers)
                        .map(|e| (e.file.clone(), render_checked(dir, e)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker panicked"))
            .collect()
    });

    let mut failures = Vec::new();
    let mut thumbs = BTreeMap::new();
    for (file, result) in results {
        match result {
            Ok(img) => {
                thumbs.insert(file, img);
            }
            Err(why) => failures.push(format!("{file}: {why}")),
        }
    }

    // Same picture, different encoding: EXIF-rotated copies against the
    // upright original turned the way the tag says...
    let mut pairs: Vec<(String, String, u8, f64)> = [2u8, 3, 5, 6, 8]
        .iter()
        .map(|&n| {
            (
                format!("mate_Storm_orient{n}.jpg"),
                "mate_Storm.jpg".to_owned(),
                n,
                SAME,
            )
        })
        .collect();
    pairs.push((
        "lomiri_seeding_orient6.jpg".into(),
        "lomiri_seeding_by_Clements_Engelhardt.jpg".into(),
        6, // 90 degrees clockwise
        SAME,
    ));
    // ...and re-encodings of one photo against the original.
    for (derived, original) in [
        (
            "lomiri_aitzgorri_cmyk.jpg",
            "lomiri_aitzgorri_by_Aitzol_Berasategi.jpg",
        ),
        (
            "lomiri_Kleiber_progressive.jpg",
            "lomiri_Kleiber_by_Lukas_Baubkus.jpg",
        ),
        ("mate_Blinds.bmp", "mate_Blinds.jpg"),
        ("plasma_BytheWater_lzw.tif", "plasma_BytheWater.jpg"),
        ("lomiri_Wine.webp", "lomiri_Wine_by_Jakkub_Mede.jpg"),
    ] {
        pairs.push((derived.into(), original.into(), 1, 2.0 * SAME));
    }
    let mut compared = 0;
    for (derived, original, exif, tolerance) in &pairs {
        let (Some(got), Some(base)) = (thumbs.get(derived), thumbs.get(original)) else {
            failures.push(format!(
                "{derived} vs {original}: missing from the corpus or failed"
            ));
            continue;
        };
        let want = oriented(base, *exif);
        if got.dimensions() != want.dimensions() {
            failures.push(format!(
                "{derived}: {:?} but {original} turned by EXIF {exif} is {:?}",
                got.dimensions(),
                want.dimensions()
            ));
            continue;
        }
        let d = mad(got, &want);
        if d >= *tolerance {
            failures.push(format!(
                "{derived} differs from {original} (EXIF {exif} applied): mean abs diff {d:.2}"
            ));
        }
        compared += 1;
    }
    // The comparison is able to fail: the wrong quarter turn is far off.
    if let (Some(got), Some(base)) = (
        thumbs.get("lomiri_seeding_orient6.jpg"),
        thumbs.get("lomiri_seeding_by_Clements_Engelhardt.jpg"),
    ) {
        let wrong = mad(got, &oriented(base, 8));
        assert!(
            wrong > 4.0 * SAME,
            "counter-clockwise turn is too similar: {wrong:.2}"
        );
    }

    let elapsed = started.elapsed();
    announce(&format!(
        "corpus: rendered {} files from {} ({} pixel comparisons) in {:.1}s",
        thumbs.len(),
        dir.display(),
        compared,
        elapsed.as_secs_f64()
    ));
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
    assert_eq!(
        thumbs.len(),
        entries.len(),
        "every manifest file must render"
    );
    assert_eq!(compared, pairs.len());
}

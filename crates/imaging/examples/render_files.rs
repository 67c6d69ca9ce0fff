//! Renders image files with the default recipe, natively, and prints the
//! fastest time per file: the engine without wasm, for profiling
//! (`perf record`, `valgrind --tool=callgrind`) and quick comparisons.
//!
//! `cargo run --release -p thumbflow-imaging --example render_files -- [--repeat N] [--recipe SPEC] [--out DIR] FILE...`

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut repeat, mut spec, mut out_dir, mut files) = (1u32, String::new(), None, Vec::new());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--repeat" => repeat = args.next().ok_or("--repeat N")?.parse()?,
            "--recipe" => spec = args.next().ok_or("--recipe SPEC")?,
            "--out" => out_dir = Some(std::path::PathBuf::from(args.next().ok_or("--out DIR")?)),
            _ => files.push(arg),
        }
    }
    let recipes = thumbflow_imaging::parse_recipes(&spec)?;
    let limits = thumbflow_imaging::Limits::default();
    for file in &files {
        let bytes = std::fs::read(file)?;
        let mut best = f64::INFINITY;
        let mut result = None;
        for _ in 0..repeat.max(1) {
            let started = Instant::now();
            let r = thumbflow_imaging::render(&bytes, &recipes, &limits);
            best = best.min(started.elapsed().as_secs_f64());
            result = Some(r);
        }
        match result {
            Some(Ok(rendered)) => {
                let first = &rendered[0];
                println!(
                    "{file}\t{:.2} ms\t{}x{}\t{} bytes",
                    best * 1e3,
                    first.width,
                    first.height,
                    first.bytes.len()
                );
                if let Some(dir) = &out_dir {
                    let name = std::path::Path::new(file)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    std::fs::create_dir_all(dir)?;
                    std::fs::write(
                        dir.join(format!(
                            "{name}.{}.{}",
                            first.recipe,
                            first.format.extension()
                        )),
                        &first.bytes,
                    )?;
                }
            }
            Some(Err(e)) => println!("{file}\terror: {e}"),
            None => {}
        }
    }
    Ok(())
}

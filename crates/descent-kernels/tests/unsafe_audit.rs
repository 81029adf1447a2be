//! Every `unsafe` of the workspace is in descent-kernels, in the files ARCHITECTURE.md lists, and
//! carries a `// SAFETY:` comment (or, for an `unsafe fn`, a `# Safety` doc section) just above.

use std::path::{Path, PathBuf};

/// The files allowed to hold `unsafe` (docs/ARCHITECTURE.md, descent-kernels section).
const ALLOWED: [&str; 6] = [
    "buffer.rs",
    "float.rs",
    "matmul.rs",
    "sgemm.rs",
    "simd/avx2.rs",
    "simd/avx512.rs",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(file, line)` of every `unsafe` token outside comments and `forbid(unsafe_code)`.
fn unsafe_lines(root: &Path) -> Vec<(PathBuf, usize, Vec<String>)> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        for (i, l) in lines.iter().enumerate() {
            let code = l.split("//").next().unwrap_or("");
            let has_unsafe = code
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .any(|w| w == "unsafe");
            if has_unsafe && !code.contains("unsafe_code") {
                out.push((f.clone(), i, lines.clone()));
            }
        }
    }
    out
}

#[test]
fn unsafe_lives_in_the_listed_kernel_files_with_a_safety_comment() {
    let kernels = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = unsafe_lines(&kernels);
    assert!(
        !found.is_empty(),
        "the audit found no unsafe at all: is it looking in the right place?"
    );
    let mut missing = Vec::new();
    for (file, i, lines) in &found {
        let rel = file
            .strip_prefix(&kernels)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        assert!(
            ALLOWED.contains(&rel.as_str()),
            "{rel}:{}: unsafe outside the files listed in ARCHITECTURE.md",
            i + 1
        );
        let above = &lines[i.saturating_sub(12)..=*i].join("\n");
        if !above.contains("SAFETY") && !above.contains("# Safety") {
            missing.push(format!("{rel}:{}: {}", i + 1, lines[*i].trim()));
        }
    }
    assert!(
        missing.is_empty(),
        "unsafe without a SAFETY comment:\n{}",
        missing.join("\n")
    );

    // No other crate has any.
    let crates = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        if dir.ends_with("descent-kernels") || !dir.join("src").is_dir() {
            continue;
        }
        let others = unsafe_lines(&dir.join("src"));
        assert!(
            others.is_empty(),
            "unsafe outside descent-kernels: {}:{}",
            others[0].0.display(),
            others[0].1 + 1
        );
    }
}

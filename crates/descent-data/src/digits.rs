//! The 8x8 handwritten digits set, embedded in the crate.
//!
//! 1,797 images of 8x8 pixels with values `0..=16`, labels `0..=9`: the copy of the UCI
//! "Optical Recognition of Handwritten Digits" test set that scikit-learn ships as
//! `load_digits`, under scikit-learn's BSD 3-Clause License (`data/README.md` and
//! `data/LICENSE-scikit-learn.txt` in this crate). It is small enough to train on in a test or a
//! doc example in well under a second, with no file to download.

use crate::dataset::TensorDataset;
use descent_core::{IntTensor, Tensor};
use flate2::read::GzDecoder;
use std::io::Read;
use std::sync::OnceLock;

/// The gzip-compressed CSV: one line per image, 64 pixel values then the label.
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");

/// The number of images.
pub const DIGITS_LEN: usize = 1797;

/// The digits set: features `[1797, 1, 8, 8]` `f32`, each value `0..=16` divided by 16 (so in
/// `[0, 1]`), and labels `[1797]` in `0..=9`, in the file's order.
///
/// The embedded file is parsed on the first call (about a millisecond) and shared afterwards;
/// a test proves that it parses, so this never fails.
///
/// ```
/// use descent_data::Dataset;
/// let digits = descent_data::digits();
/// assert_eq!(digits.features().shape(), &[1797, 1, 8, 8]);
/// assert_eq!(digits.label_counts(), vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
/// ```
pub fn digits() -> TensorDataset {
    static DIGITS: OnceLock<TensorDataset> = OnceLock::new();
    DIGITS
        .get_or_init(|| {
            parse_digits(DIGITS_CSV_GZ)
                .unwrap_or_else(|e| unreachable!("the embedded digits set parses (tested): {e}"))
        })
        .clone()
}

/// Parses the gzip-compressed digits CSV.
pub(crate) fn parse_digits(gz: &[u8]) -> Result<TensorDataset, String> {
    let mut text = String::new();
    GzDecoder::new(gz)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot decompress: {e}"))?;
    let mut features = Vec::with_capacity(DIGITS_LEN * 64);
    let mut labels = Vec::with_capacity(DIGITS_LEN);
    for (line_no, line) in text.lines().enumerate() {
        let mut fields = 0;
        for field in line.split(',') {
            let v: u8 = field
                .trim()
                .parse()
                .map_err(|e| format!("line {}: `{field}`: {e}", line_no + 1))?;
            if fields < 64 {
                if v > 16 {
                    return Err(format!("line {}: pixel {v} is above 16", line_no + 1));
                }
                features.push(f32::from(v) / 16.0);
            } else if fields == 64 && v <= 9 {
                labels.push(i64::from(v));
            } else {
                return Err(format!("line {}: bad label or extra field", line_no + 1));
            }
            fields += 1;
        }
        if fields != 65 {
            return Err(format!(
                "line {}: {fields} fields, expected 65",
                line_no + 1
            ));
        }
    }
    if labels.len() != DIGITS_LEN {
        return Err(format!("{} images, expected {DIGITS_LEN}", labels.len()));
    }
    TensorDataset::new(
        Tensor::from_vec(features, [DIGITS_LEN, 1, 8, 8]),
        IntTensor::from(labels),
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_file_parses() {
        let d = parse_digits(DIGITS_CSV_GZ).unwrap();
        assert_eq!(d.features().shape(), &[DIGITS_LEN, 1, 8, 8]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(parse_digits(b"not gzip").is_err());
        let gz = |s: &str| {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(s.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        assert!(parse_digits(&gz("1,2,3\n")).unwrap_err().contains("fields"));
        let line = format!("{}7\n", "0,".repeat(64));
        assert!(parse_digits(&gz(&line)).unwrap_err().contains("1 images"));
        let bad = format!("{}x\n", "0,".repeat(64));
        assert!(parse_digits(&gz(&bad)).unwrap_err().contains("line 1"));
    }
}

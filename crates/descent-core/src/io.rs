//! Weight files: named tensors, float or integer, in one safetensors file.
//!
//! The format is [safetensors](https://huggingface.co/docs/safetensors) (what PyTorch and candle
//! users exchange weights in): a JSON header naming each tensor's element type, shape and byte
//! range, then the little-endian bytes; a header may carry string metadata. `f32`, `f64` and
//! `i64` tensors are stored as `F32`, `F64` and `I64` ([`AnyTensor`]), so integer buffers (as
//! BatchNorm's `num_batches_tracked`) live beside the weights.
//!
//! A save writes a temporary file beside the target, syncs it and renames it over the target:
//! an interrupted save never leaves a half-written file in place of a good one. A load checks the
//! whole file before returning anything, and a file that is not what it claims (truncated,
//! offsets out of range or overlapping, an element type descent does not hold) gives
//! [`Error::File`] naming the file and the problem, never a panic.
//!
//! ```
//! use descent_core::io::{self, AnyTensor};
//! use descent_core::{IntTensor, Tensor};
//! let path = std::env::temp_dir().join(format!("descent-io-doc-{}.safetensors", std::process::id()));
//! let weight = Tensor::from_vec(vec![1.0f32, 2.0], [2]);
//! let count = IntTensor::scalar(7);
//! io::save(&path, &[("bn.weight", (&weight).into()), ("bn.num_batches_tracked", (&count).into())], &Default::default()).unwrap();
//! let file = io::load(&path).unwrap();
//! assert_eq!(file.get("bn.num_batches_tracked"), Some(&AnyTensor::Int(count)));
//! # std::fs::remove_file(&path).unwrap();
//! ```

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::int_tensor::IntTensor;
use crate::tensor::Tensor;
use safetensors::tensor::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A tensor as stored in a weight file: float ([`Tensor`], `f32` or `f64`) or integer
/// ([`IntTensor`]).
#[derive(Clone, Debug, PartialEq)]
pub enum AnyTensor {
    /// `F32` or `F64` in the file.
    Float(Tensor),
    /// `I64` in the file.
    Int(IntTensor),
}

impl AnyTensor {
    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        match self {
            AnyTensor::Float(t) => t.shape(),
            AnyTensor::Int(t) => t.shape(),
        }
    }

    /// The element type's name as safetensors spells it: `F32`, `F64` or `I64`.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            AnyTensor::Float(t) if t.dtype() == DType::F32 => "F32",
            AnyTensor::Float(_) => "F64",
            AnyTensor::Int(_) => "I64",
        }
    }
}

impl From<&Tensor> for AnyTensor {
    fn from(t: &Tensor) -> AnyTensor {
        AnyTensor::Float(t.clone())
    }
}

impl From<Tensor> for AnyTensor {
    fn from(t: Tensor) -> AnyTensor {
        AnyTensor::Float(t)
    }
}

impl From<IntTensor> for AnyTensor {
    fn from(t: IntTensor) -> AnyTensor {
        AnyTensor::Int(t)
    }
}

impl From<&IntTensor> for AnyTensor {
    fn from(t: &IntTensor) -> AnyTensor {
        AnyTensor::Int(t.clone())
    }
}

/// The tensors and metadata of a weight file, as [`load`] returns them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WeightFile {
    /// The tensors in the order of the file's header (safetensors sorts them by name).
    pub tensors: Vec<(String, AnyTensor)>,
    /// The header's string metadata.
    pub metadata: HashMap<String, String>,
}

impl WeightFile {
    /// The tensor named `name`.
    pub fn get(&self, name: &str) -> Option<&AnyTensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// A tensor's elements as little-endian bytes.
struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Bytes {
    fn of(t: &AnyTensor) -> Bytes {
        let (dtype, data) = match t {
            AnyTensor::Float(t) if t.dtype() == DType::F32 => (
                Dtype::F32,
                t.to_vec::<f32>()
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
            ),
            AnyTensor::Float(t) => (
                Dtype::F64,
                t.to_vec::<f64>()
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
            ),
            AnyTensor::Int(t) => (
                Dtype::I64,
                t.to_vec().iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
        };
        Bytes {
            dtype,
            shape: t.shape().to_vec(),
            data,
        }
    }
}

impl View for &Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// The error of a weight file: [`Error::File`] naming it and what is wrong.
pub fn file_error(path: &Path, detail: impl Into<String>) -> Error {
    Error::File {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// The bytes of a weight file holding `tensors` and `metadata` (what [`save`] writes).
///
/// # Errors
/// If two tensors share a name, or the header cannot be serialized.
pub fn to_bytes<S: AsRef<str>>(
    tensors: &[(S, AnyTensor)],
    metadata: &HashMap<String, String>,
) -> std::result::Result<Vec<u8>, String> {
    let mut seen = std::collections::HashSet::new();
    if let Some((dup, _)) = tensors.iter().find(|(n, _)| !seen.insert(n.as_ref())) {
        return Err(format!("two tensors are named `{}`", dup.as_ref()));
    }
    if metadata.contains_key(CHECKSUM_KEY) {
        return Err(format!(
            "the metadata key `{CHECKSUM_KEY}` is descent's own"
        ));
    }
    let bytes: Vec<(&str, Bytes)> = tensors
        .iter()
        .map(|(n, t)| (n.as_ref(), Bytes::of(t)))
        .collect();
    let mut meta = metadata.clone();
    let sum = checksum(
        bytes
            .iter()
            .map(|(n, b)| (*n, b.dtype, b.shape.clone(), b.data.as_slice())),
    );
    meta.insert(CHECKSUM_KEY.to_string(), sum);
    safetensors::serialize(bytes.iter().map(|(n, b)| (*n, b)), Some(meta))
        .map_err(|e| format!("cannot serialize: {e}"))
}

/// The metadata key of the checksum descent writes over the tensors.
const CHECKSUM_KEY: &str = "descent.checksum";

/// A 64-bit hash of every tensor's name, element type, shape and bytes, taken in name order, as
/// 16 hex digits: what a load checks, so a flipped bit or a partial copy in the data of a file
/// descent wrote is an error, not silently different weights. Not cryptographic.
fn checksum<'a>(tensors: impl Iterator<Item = (&'a str, Dtype, Vec<usize>, &'a [u8])>) -> String {
    let mut all: Vec<_> = tensors.collect();
    all.sort_by(|a, b| a.0.cmp(b.0));
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |w: u64| h = (h.rotate_left(23) ^ w).wrapping_mul(K);
    for (name, dtype, shape, data) in all {
        for b in name.bytes().chain(format!("{dtype:?}").bytes()) {
            mix(u64::from(b));
        }
        mix(shape.len() as u64);
        shape.iter().for_each(|&d| mix(d as u64));
        mix(data.len() as u64);
        let mut words = data.chunks_exact(8);
        for w in &mut words {
            mix(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        for &b in words.remainder() {
            mix(u64::from(b));
        }
    }
    format!("{h:016x}")
}

/// Saves named tensors and string metadata to `path` atomically (see the [module docs](self)).
///
/// # Errors
/// [`Error::File`] naming the file if it cannot be written or two tensors share a name; the
/// previous file, if any, is intact.
pub fn save<S: AsRef<str>>(
    path: impl AsRef<Path>,
    tensors: &[(S, AnyTensor)],
    metadata: &HashMap<String, String>,
) -> Result<()> {
    let path = path.as_ref();
    let bytes = to_bytes(tensors, metadata).map_err(|e| file_error(path, e))?;
    write_atomically(path, &bytes)
}

/// Reads the tensors and metadata of a weight file's bytes.
///
/// # Errors
/// A description of what is wrong (not a safetensors file, truncated, an element type other than
/// `F32`, `F64`, `I64`).
pub fn from_bytes(bytes: &[u8]) -> std::result::Result<WeightFile, String> {
    // `deserialize` checks the header, every offset against the buffer's length, overlaps and
    // that each byte range holds exactly its shape's elements, before anything is read.
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| format!("not a valid safetensors file: {e}"))?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| format!("not a valid safetensors file: {e}"))?;
    let mut metadata = header.metadata().clone().unwrap_or_default();
    if let Some(expected) = metadata.remove(CHECKSUM_KEY) {
        let actual = checksum(
            st.iter()
                .map(|(name, view)| (name, view.dtype(), view.shape().to_vec(), view.data())),
        );
        if actual != expected {
            return Err(format!(
                "the tensor data does not match the checksum descent wrote ({actual} != \
                 {expected}): the file is corrupt (a changed byte or a partial copy)"
            ));
        }
    }
    let mut tensors = Vec::new();
    for (name, view) in st.iter() {
        let shape = view.shape();
        let data = view.data();
        // `deserialize` checked the element count against the bytes; the `try_` forms keep a
        // shape descent cannot hold an error too.
        let bad_shape = |e: Error| format!("tensor `{name}`: {e}");
        let t = match view.dtype() {
            Dtype::F32 => AnyTensor::Float(
                Tensor::try_from_vec(le(data, f32::from_le_bytes), shape).map_err(bad_shape)?,
            ),
            Dtype::F64 => AnyTensor::Float(
                Tensor::try_from_vec(le(data, f64::from_le_bytes), shape).map_err(bad_shape)?,
            ),
            Dtype::I64 => AnyTensor::Int(
                IntTensor::try_from_vec(le(data, i64::from_le_bytes), shape).map_err(bad_shape)?,
            ),
            other => {
                return Err(format!(
                    "tensor `{name}` is {other:?}; descent reads F32, F64 and I64"
                ));
            }
        };
        tensors.push((name.to_string(), t));
    }
    Ok(WeightFile { tensors, metadata })
}

/// Loads a weight file written by [`save`] (or any safetensors file of `F32`, `F64`, `I64`).
///
/// # Errors
/// [`Error::File`] naming the file and what is wrong.
pub fn load(path: impl AsRef<Path>) -> Result<WeightFile> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    from_bytes(&bytes).map_err(|e| file_error(path, e))
}

/// Little-endian elements of `N` bytes each (`deserialize` checked the length is a multiple).
fn le<T, const N: usize>(data: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N)
        .map(|b| from(b.try_into().expect("chunks of N bytes")))
        .collect()
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
///
/// **Test-only fault points.** When the environment variable `DESCENT_FAULT` is set (read once
/// per process) to `POINT` or `POINT:N`, the `N`-th save of the process (the first without
/// `:N`) aborts the process at `POINT`, as a crash or a `SIGKILL` there would: `mid-temp-write`
/// (half the bytes written), `after-temp-write` (all written, not flushed), `before-fsync`,
/// `before-rename` or `after-rename` (before the directory is synced). The reliability tests use
/// it to show that a crash at any of these points leaves a checkpoint that loads; it is not for
/// use in production. Unset, it costs one atomic load per save.
///
/// # Errors
/// [`Error::File`] naming `path`; the temporary file is removed and `path` left as it was.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_with(path, bytes, &env_fault)
}

/// The steps of [`write_atomically`], where a test injects a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Create,
    /// After half the bytes are written.
    Write,
    /// After all the bytes are written, before the flush.
    Written,
    Sync,
    Rename,
    /// After the rename, before the directory is synced.
    Renamed,
}

impl Stage {
    /// The name of the `DESCENT_FAULT` point at this stage.
    fn fault_name(self) -> &'static str {
        match self {
            Stage::Create => "before-create",
            Stage::Write => "mid-temp-write",
            Stage::Written => "after-temp-write",
            Stage::Sync => "before-fsync",
            Stage::Rename => "before-rename",
            Stage::Renamed => "after-rename",
        }
    }
}

/// The `DESCENT_FAULT` setting: the point's name and the save (1-based) it aborts.
fn fault_setting() -> Option<&'static (String, u64)> {
    static SETTING: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    SETTING
        .get_or_init(|| {
            let v = std::env::var("DESCENT_FAULT").ok()?;
            let (point, n) = match v.split_once(':') {
                Some((p, n)) => (p.to_string(), n.parse().ok()?),
                None => (v, 1),
            };
            Some((point, n))
        })
        .as_ref()
}

/// Saves started by this process, counted only while `DESCENT_FAULT` is set.
static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The fault hook of [`write_atomically`]: aborts the process at the `DESCENT_FAULT` point.
fn env_fault(stage: Stage) -> std::io::Result<()> {
    let Some((point, n)) = fault_setting() else {
        return Ok(());
    };
    let save = if stage == Stage::Create {
        SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    } else {
        SAVES.load(std::sync::atomic::Ordering::Relaxed)
    };
    if save == *n && stage.fault_name() == point {
        eprintln!("DESCENT_FAULT: aborting at {point} of save {save}");
        std::process::abort();
    }
    Ok(())
}

/// Removes the temporary files (`.<name>.<pid>.tmp`) that saves of `name` killed mid-write left
/// beside it: once a save of the same file has succeeded they are garbage. Best effort.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        let is_stale = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if is_stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn write_atomically_with(
    path: &Path,
    bytes: &[u8],
    fault: &dyn Fn(Stage) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| file_error(path, "the path names no file"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        fault(Stage::Create)?;
        let mut f = std::fs::File::create(&tmp)?;
        let (first, rest) = bytes.split_at(bytes.len() / 2);
        f.write_all(first)?;
        fault(Stage::Write)?;
        f.write_all(rest)?;
        fault(Stage::Written)?;
        f.flush()?;
        fault(Stage::Sync)?;
        f.sync_all()?;
        fault(Stage::Rename)?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        file_error(path, format!("cannot write: {e}"))
    })?;
    fault(Stage::Renamed).map_err(|e| file_error(path, format!("cannot sync: {e}")))?;
    // Make the rename itself durable; the file is complete either way, so this is best effort.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    remove_stale_temporaries(&dir, &file_name.to_string_lossy());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(&'static str, AnyTensor)> {
        vec![
            (
                "w",
                AnyTensor::Float(Tensor::from_vec(vec![1.5f32, -2.0, 3.25], [3])),
            ),
            (
                "w64",
                AnyTensor::Float(Tensor::from_vec(vec![0.1f64; 4], [2, 2]).t()),
            ),
            ("steps", AnyTensor::Int(IntTensor::scalar(i64::MAX))),
            (
                "idx",
                AnyTensor::Int(IntTensor::from_vec(vec![-1, 0, 5], [3, 1])),
            ),
        ]
    }

    #[test]
    fn a_failure_at_any_step_of_a_save_leaves_the_previous_file_and_no_temporary() {
        let dir = std::env::temp_dir().join(format!("descent-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("weights.safetensors");
        let old = to_bytes(&sample(), &HashMap::new()).unwrap();
        let new = to_bytes(&sample()[..1], &HashMap::new()).unwrap();
        for stage in [
            Stage::Create,
            Stage::Write,
            Stage::Written,
            Stage::Sync,
            Stage::Rename,
        ] {
            std::fs::write(&path, &old).unwrap();
            let err = write_atomically_with(&path, &new, &|s| {
                if s == stage {
                    Err(std::io::Error::other("injected: disk full"))
                } else {
                    Ok(())
                }
            })
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("weights.safetensors") && err.contains("injected: disk full"),
                "{stage:?}: {err}"
            );
            assert_eq!(std::fs::read(&path).unwrap(), old, "{stage:?}");
            let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
            assert_eq!(
                files.len(),
                1,
                "{stage:?}: a temporary file was left behind"
            );
        }
        // A save killed mid-write by another process left its temporary file; the next good
        // save removes it.
        std::fs::write(dir.join(".weights.safetensors.123456.tmp"), b"half").unwrap();
        std::fs::write(dir.join(".other.safetensors.1.tmp"), b"not ours").unwrap();
        write_atomically(&path, &new).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), new);
        assert!(!dir.join(".weights.safetensors.123456.tmp").exists());
        std::fs::remove_file(dir.join(".other.safetensors.1.tmp")).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_changed_byte_in_the_data_is_caught_by_the_checksum() {
        let bytes = to_bytes(&sample(), &HashMap::new()).unwrap();
        let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        for i in header..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            let e = from_bytes(&bad).unwrap_err();
            assert!(e.contains("the file is corrupt"), "byte {i}: {e}");
        }
        // The checksum is descent's: not in the metadata a load returns, not a key users set.
        assert!(from_bytes(&bytes).unwrap().metadata.is_empty());
        let meta = HashMap::from([(CHECKSUM_KEY.to_string(), "x".to_string())]);
        assert!(to_bytes(&sample(), &meta).is_err());
    }

    #[test]
    fn round_trip_keeps_types_shapes_and_bits() {
        let meta = HashMap::from([("format".to_string(), "test".to_string())]);
        let bytes = to_bytes(&sample(), &meta).unwrap();
        let file = from_bytes(&bytes).unwrap();
        assert_eq!(file.metadata, meta);
        for (name, t) in sample() {
            assert_eq!(file.get(name), Some(&t), "{name}");
        }
        assert_eq!(file.get("steps").unwrap().dtype_name(), "I64");
    }

    #[test]
    fn every_truncation_and_many_bit_flips_give_an_error_or_a_value_never_a_panic() {
        let bytes = to_bytes(&sample(), &HashMap::new()).unwrap();
        for n in 0..bytes.len() {
            assert!(from_bytes(&bytes[..n]).is_err(), "truncated to {n}");
        }
        let mut tried = 0;
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x10, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                let _ = from_bytes(&b);
                tried += 1;
            }
        }
        assert!(tried > 100);
    }

    #[test]
    fn duplicate_names_and_bad_files_are_named() {
        let t = AnyTensor::Int(IntTensor::scalar(1));
        assert!(to_bytes(&[("a", t.clone()), ("a", t)], &HashMap::new()).is_err());
        let path = std::env::temp_dir().join(format!("descent-io-bad-{}", std::process::id()));
        std::fs::write(&path, b"not a weight file").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(e.contains("not a valid safetensors file"), "{e}");
        std::fs::remove_file(&path).unwrap();
    }
}

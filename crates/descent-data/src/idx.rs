//! The IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//!
//! An IDX file is a big-endian header and the data: the magic number `0x0000TTDD` (`TT` the
//! element type, `0x08` for `u8`; `DD` the number of dimensions), one `u32` per dimension, then
//! the elements in row-major order. Images are `0x00000803` (`u8`, 3-D: count, rows, columns),
//! labels `0x00000801` (`u8`, 1-D: count).
//!
//! A file is gzip-compressed if it starts with the gzip magic bytes `1f 8b`, whatever its name.
//! Everything is checked before a value is returned: the magic number, non-zero image
//! dimensions, that the data holds exactly the bytes the header announces (a truncated file or
//! trailing bytes are errors), the gzip stream's integrity (its CRC), and label ranges. Every
//! failure is [`Error::File`](descent_core::Error::File) naming the file and the problem, never a
//! panic; and no buffer is sized from the header alone, so a lying header cannot cause a huge
//! allocation (the data read is bounded by what the file holds).
//!
//! ```
//! use descent_data::idx;
//! let dir = std::env::temp_dir().join(format!("descent-idx-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("labels-idx1-ubyte");
//! std::fs::write(&path, [0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9]).unwrap();
//! assert_eq!(idx::read_labels(&path, 10).unwrap(), vec![7, 0, 9]);
//! let e = idx::read_labels(&path, 8).unwrap_err().to_string();
//! assert!(e.ends_with("label 9 at index 2 is out of range 0..8"), "{e}");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use descent_core::error::Result;
use descent_core::io::file_error;
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::Path;

/// The magic number of an IDX file of `u8` images (3-D: count, rows, columns).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// The magic number of an IDX file of `u8` labels (1-D: count).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The most bytes deflate can expand one compressed byte into (its maximum ratio is 1032:1).
const DEFLATE_MAX_RATIO: u64 = 1032;
/// Room reserved for decompressed data per compressed byte before the data proves it needs more
/// (MNIST's images compress about 4.7:1).
const RESERVE_RATIO: u64 = 8;

/// The images of an IDX image file: `count` images of `rows x cols` bytes, one after another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// The number of images.
    pub count: usize,
    /// The height of an image.
    pub rows: usize,
    /// The width of an image.
    pub cols: usize,
    /// `count * rows * cols` pixels, row-major, image after image.
    pub pixels: Vec<u8>,
}

/// Reads an IDX file of `u8` images (magic `0x00000803`), raw or gzip.
///
/// # Errors
/// [`Error::File`](descent_core::Error::File) naming the file and the problem: it cannot be
/// read, is empty, is a corrupt gzip stream, has another magic number, a zero row or column
/// count, or more or fewer bytes than its header announces.
pub fn read_images(path: impl AsRef<Path>) -> Result<IdxImages> {
    let path = path.as_ref();
    let (dims, pixels) = read_u8(path, IMAGES_MAGIC, "images")?;
    let [count, rows, cols] = dims[..] else {
        unreachable!("read_u8 checks the magic number, hence 3 dimensions")
    };
    if rows == 0 || cols == 0 {
        return Err(file_error(
            path,
            format!("images of {rows}x{cols} pixels: rows and columns must be at least 1"),
        ));
    }
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Reads an IDX file of `u8` labels (magic `0x00000801`), raw or gzip, and checks that every
/// label is in `0..classes`.
///
/// # Errors
/// [`Error::File`](descent_core::Error::File) naming the file and the problem, as
/// [`read_images`], or the first label out of range.
pub fn read_labels(path: impl AsRef<Path>, classes: usize) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let (_, labels) = read_u8(path, LABELS_MAGIC, "labels")?;
    if let Some((i, &l)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= classes)
    {
        return Err(file_error(
            path,
            format!("label {l} at index {i} is out of range 0..{classes}"),
        ));
    }
    Ok(labels)
}

/// Reads an IDX file of `u8` elements whose magic number must be `magic`: its dimensions and
/// its elements.
fn read_u8(path: &Path, magic: u32, what: &str) -> Result<(Vec<usize>, Vec<u8>)> {
    let file =
        std::fs::File::open(path).map_err(|e| file_error(path, format!("cannot open: {e}")))?;
    let file_len = file
        .metadata()
        .map_err(|e| file_error(path, format!("cannot read: {e}")))?
        .len();
    let mut reader = std::io::BufReader::new(file);
    let mut start = [0u8; 2];
    let got = read_full(&mut reader, &mut start)
        .map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    if got == 0 {
        return Err(file_error(path, "the file is empty"));
    }
    let head = std::io::Cursor::new(start[..got].to_vec());
    if start[..got] == [0x1f, 0x8b] {
        let mut decoder = MultiGzDecoder::new(head.chain(reader));
        read_body(&mut decoder, path, magic, what, Source::Gzip(file_len))
    } else {
        read_body(
            &mut head.chain(reader),
            path,
            magic,
            what,
            Source::Raw(file_len),
        )
    }
}

/// Where the IDX bytes come from, with the file's size: what bounds the data.
#[derive(Clone, Copy)]
enum Source {
    Raw(u64),
    Gzip(u64),
}

impl Source {
    fn gzip_error(self, path: &Path, e: &std::io::Error) -> descent_core::Error {
        match self {
            Source::Gzip(_) => file_error(path, format!("corrupt gzip stream: {e}")),
            Source::Raw(_) => file_error(path, format!("cannot read: {e}")),
        }
    }
}

fn read_body(
    reader: &mut impl Read,
    path: &Path,
    magic: u32,
    what: &str,
    source: Source,
) -> Result<(Vec<usize>, Vec<u8>)> {
    let ndim = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndim;
    let mut header = vec![0u8; header_len];
    let got = read_full(reader, &mut header).map_err(|e| source.gzip_error(path, &e))?;
    let compressed = if let Source::Gzip(_) = source {
        " (decompressed)"
    } else {
        ""
    };
    if got < 4 {
        return Err(file_error(
            path,
            format!("truncated: {got} bytes{compressed}, too short for an IDX header"),
        ));
    }
    let found = u32::from_be_bytes(header[..4].try_into().expect("4 bytes"));
    if found != magic {
        let hint = match found {
            IMAGES_MAGIC => " (this is an IDX images file)",
            LABELS_MAGIC => " (this is an IDX labels file)",
            _ if found >> 16 != 0 => " (not an IDX file)",
            _ => "",
        };
        return Err(file_error(
            path,
            format!(
                "wrong magic number 0x{found:08x}{hint}: IDX {what} files start with \
                 0x{magic:08x} (u8 elements, {ndim} dimension{})",
                if ndim == 1 { "" } else { "s" }
            ),
        ));
    }
    if got < header_len {
        return Err(file_error(
            path,
            format!(
                "truncated: {got} bytes{compressed}, but the header of an IDX {what} file is \
                 {header_len} bytes"
            ),
        ));
    }
    let dims: Vec<usize> = header[4..]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize)
        .collect();
    // u32 dimensions: at most 2^96 elements, which u128 holds.
    let numel = dims.iter().map(|&d| d as u128).product::<u128>();
    let expected = header_len as u128 + numel;
    let dims_text = dims
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" x ");
    match source {
        Source::Raw(len) if u128::from(len) != expected => {
            let problem = if u128::from(len) < expected {
                "truncated"
            } else {
                "trailing bytes"
            };
            return Err(file_error(
                path,
                format!(
                    "{problem}: the header announces {dims_text} {what}, {expected} bytes with \
                     the header, but the file has {len} bytes"
                ),
            ));
        }
        Source::Gzip(len) if expected > u128::from(len) * u128::from(DEFLATE_MAX_RATIO) + 1024 => {
            return Err(file_error(
                path,
                format!(
                    "the header announces {dims_text} {what} ({expected} bytes), more than a \
                     gzip file of {len} bytes can hold"
                ),
            ));
        }
        _ => {}
    }
    let numel = usize::try_from(numel)
        .map_err(|_| file_error(path, format!("{dims_text} {what} do not fit in memory")))?;
    let bound = match source {
        Source::Raw(len) => len,
        Source::Gzip(len) => len.saturating_mul(RESERVE_RATIO),
    };
    let mut data = Vec::with_capacity(numel.min(usize::try_from(bound).unwrap_or(usize::MAX)));
    // One byte more than announced shows trailing data; and the read goes on to the end of the
    // input when there is none, which for gzip checks the stream's CRC and length.
    let limit = numel as u64 + 1;
    reader
        .by_ref()
        .take(limit)
        .read_to_end(&mut data)
        .map_err(|e| source.gzip_error(path, &e))?;
    if data.len() != numel {
        let problem = if data.len() < numel {
            format!("truncated: {} bytes of data", data.len())
        } else {
            "trailing bytes: more data".to_string()
        };
        return Err(file_error(
            path,
            format!(
                "{problem}{compressed} after the header, which announces {dims_text} {what} \
                 ({numel} bytes)"
            ),
        ));
    }
    Ok((dims, data))
}

/// Reads until `buf` is full or the input ends; the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

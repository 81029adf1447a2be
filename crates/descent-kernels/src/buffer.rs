//! Element buffers: one allocation per tensor, reference counted, recycled through a bounded
//! size-class pool, allocated fallibly.
//!
//! A kernel writes its output into a uniquely owned [`Buffer`]; [`Buffer::into_shared`] turns it
//! into a [`SharedBuffer`] (what a tensor's storage holds) without a copy. The reference count,
//! the length and the capacity sit in a 32-byte header in front of the elements, in the same
//! block, so a tensor costs one allocation.
//!
//! **The pool.** When the last reference to a block of more than [`POOL_MIN_BYTES`] goes away, the
//! block is not freed but kept in a process-wide pool, by size class (four classes per power of
//! two: a request is rounded up by at most 25 %), and the next buffer of that class is served from
//! it without touching the kernel (no `mmap`, no page faults). The pool is bounded: at most
//! [`BLOCKS_PER_CLASS`] blocks per class and [`pool_limit`] bytes in all (256 MiB unless
//! [`set_pool_limit`] says otherwise); a block that does not fit is freed. Blocks of
//! [`POOL_MIN_BYTES`] or less are rounded to small size classes (64 bytes, then four per power
//! of two) and recycled through a cache of the thread that drops them, with no lock: at most
//! [`BLOCKS_PER_CLASS`] per class and [`SMALL_CACHE_BYTES`] per thread, freed when the thread
//! ends; so a training loop's small tensors (biases, logits, losses) stop calling `malloc` after
//! its first steps. Blocks above [`MAX_CLASS_BYTES`] are never pooled.
//!
//! **Zeroing.** [`Buffer::zeroed`] is all zeros, always (a recycled block is cleared). A kernel
//! that overwrites every element takes [`Buffer::for_overwrite`] instead: its elements hold
//! unspecified values (stale elements of a recycled block, or zeros) and no memset is paid for a
//! recycled block. Every byte handed out has been written at some point (by a previous owner, by
//! `calloc`, or by a fill here), and every bit pattern is a valid `f32`/`f64`, so reading one is
//! never undefined behaviour, only meaningless. With `DESCENT_POOL_POISON=1` in the environment,
//! `for_overwrite` fills its elements with NaN, so a kernel that reads an element it was supposed
//! to overwrite shows up in tests.
//!
//! **Fallibility.** Sizes are computed with checked arithmetic and allocation failure is an
//! [`AllocError`] from the `try_` constructors (never an abort); the plain constructors panic with
//! its message.
//!
//! ```
//! use descent_kernels::buffer::Buffer;
//! let mut b = Buffer::<f32>::zeroed(3);
//! b.copy_from_slice(&[1.0, 2.0, 3.0]); // a kernel writes through `&mut [T]`
//! let shared = b.into_shared();
//! assert_eq!(&shared[..], &[1.0, 2.0, 3.0]);
//! let huge = Buffer::<f32>::try_zeroed(1 << 62);
//! assert!(huge.is_err());
//! ```

use crate::float::Float;
use std::alloc::{Layout, alloc, alloc_zeroed, dealloc};
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Blocks with more element bytes than this are recycled through the pool; smaller ones are
/// allocated and freed with `malloc`.
pub const POOL_MIN_BYTES: usize = 64 * 1024;

/// At most this many bytes of small blocks (of [`POOL_MIN_BYTES`] or less) are kept per thread.
pub const SMALL_CACHE_BYTES: usize = 1 << 20;

/// The largest size class (256 MiB of elements); larger blocks are allocated exactly and freed.
pub const MAX_CLASS_BYTES: usize = 256 << 20;

/// At most this many free blocks are kept per size class.
pub const BLOCKS_PER_CLASS: usize = 16;

/// The default bound of the bytes the pool keeps ([`set_pool_limit`] changes it).
pub const DEFAULT_POOL_LIMIT: usize = 256 << 20;

/// The header in front of the elements: 32 bytes, so the elements are 16-byte aligned.
#[repr(C, align(16))]
struct Header {
    /// References to the block ([`Buffer`] holds one, each [`SharedBuffer`] one).
    count: AtomicUsize,
    /// Elements of the current owner.
    len: usize,
    /// Bytes of element room in the block (its size class, or the exact size if unpooled).
    capacity: usize,
    /// Bytes from the start of the element room that have been written at least once.
    initialized: usize,
}

const HEADER: usize = size_of::<Header>();
const ALIGN: usize = align_of::<Header>();
const _: () = assert!(HEADER == 32 && ALIGN == 16);

/// Why a buffer could not be allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocError {
    /// Elements asked for.
    pub elements: usize,
    /// Bytes per element.
    pub element_bytes: usize,
    /// Bytes asked for, or `None` if `elements * element_bytes` overflows `usize`.
    pub bytes: Option<usize>,
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bytes {
            Some(bytes) => write!(
                f,
                "cannot allocate {} elements of {} bytes ({bytes} bytes): out of memory",
                self.elements, self.element_bytes
            ),
            None => write!(
                f,
                "{} elements of {} bytes overflow the address space",
                self.elements, self.element_bytes
            ),
        }
    }
}

impl std::error::Error for AllocError {}

/// What the pool holds and has done since the process started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Free blocks held.
    pub blocks: usize,
    /// Bytes of element room held (never more than `limit`).
    pub bytes: usize,
    /// The bound on `bytes`.
    pub limit: usize,
    /// Allocations served from the pool.
    pub hits: u64,
    /// Poolable allocations that found no free block of their class.
    pub misses: u64,
    /// Blocks that were freed instead of pooled because the pool was full.
    pub overflows: u64,
}

/// Size classes: 4 per power of two from `POOL_MIN_BYTES` up to `MAX_CLASS_BYTES`.
const CLASSES: usize =
    4 * (MAX_CLASS_BYTES.trailing_zeros() - POOL_MIN_BYTES.trailing_zeros()) as usize;

/// The class of `bytes` (in `POOL_MIN_BYTES + 1 ..= MAX_CLASS_BYTES`) and its rounded size: the
/// multiple of a quarter of the power of two below `bytes` at or above it.
fn class_of(bytes: usize) -> Option<(usize, usize)> {
    if bytes <= POOL_MIN_BYTES || bytes > MAX_CLASS_BYTES {
        return None;
    }
    let p = (usize::BITS - 1 - (bytes - 1).leading_zeros()) as usize; // 2^p <= bytes - 1 < 2^(p+1).
    let quarter = 1usize << (p - 2);
    let rounded = bytes.div_ceil(quarter) * quarter; // In (2^p, 2^(p+1)], so rounded / quarter is 5..=8.
    let index = (p - POOL_MIN_BYTES.trailing_zeros() as usize) * 4 + rounded / quarter - 5;
    Some((index, rounded))
}

/// Small size classes: 64 bytes and below, then 4 per power of two up to `POOL_MIN_BYTES`.
const SMALL_CLASSES: usize = 1 + 4 * (POOL_MIN_BYTES.trailing_zeros() as usize - 6);

/// The small class of `bytes` (at most `POOL_MIN_BYTES`) and its rounded size, as [`class_of`].
fn small_class_of(bytes: usize) -> Option<(usize, usize)> {
    if bytes > POOL_MIN_BYTES {
        return None;
    }
    if bytes <= 64 {
        return Some((0, 64));
    }
    let p = (usize::BITS - 1 - (bytes - 1).leading_zeros()) as usize; // 2^p <= bytes - 1 < 2^(p+1), p >= 6.
    let quarter = 1usize << (p - 2);
    let rounded = bytes.div_ceil(quarter) * quarter;
    Some((1 + (p - 6) * 4 + rounded / quarter - 5, rounded))
}

/// The free small blocks of one thread.
struct SmallCache {
    free: [FreeList; SMALL_CLASSES],
    bytes: usize,
}

impl Drop for SmallCache {
    fn drop(&mut self) {
        for list in &mut self.free {
            while let Some(block) = list.pop() {
                // SAFETY: the cache owns its free blocks alone.
                let capacity = unsafe { (*block.0.as_ptr()).capacity };
                // SAFETY: as above; `allocate` made it with this capacity.
                unsafe { free_block(block.0, capacity) };
            }
        }
    }
}

thread_local! {
    static SMALL: RefCell<SmallCache> = const {
        RefCell::new(SmallCache {
            free: [const {
                FreeList {
                    blocks: [const { None }; BLOCKS_PER_CLASS],
                    len: 0,
                }
            }; SMALL_CLASSES],
            bytes: 0,
        })
    };
}

/// A free small block of class `index` from this thread's cache.
fn small_pop(index: usize) -> Option<FreeBlock> {
    SMALL
        .try_with(|c| {
            let mut c = c.try_borrow_mut().ok()?;
            let block = c.free[index].pop()?;
            // SAFETY: the cache owned the block alone; now we do.
            c.bytes -= unsafe { (*block.0.as_ptr()).capacity };
            Some(block)
        })
        .ok()
        .flatten()
}

/// Keeps a free small block of class `index` in this thread's cache, or gives it back.
fn small_push(index: usize, capacity: usize, block: FreeBlock) -> Result<(), FreeBlock> {
    let mut block = Some(block);
    let _ = SMALL.try_with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return;
        };
        if c.bytes + capacity > SMALL_CACHE_BYTES {
            return;
        }
        if let Some(b) = block.take() {
            match c.free[index].push(b) {
                Ok(()) => c.bytes += capacity,
                Err(b) => block = Some(b),
            }
        }
    });
    block.map_or(Ok(()), Err)
}

/// A free block owned by the pool.
struct FreeBlock(NonNull<Header>);

// SAFETY: a free block is owned by the pool alone (its count reached 0 and no buffer points to
// it), so moving it to another thread moves its only owner.
unsafe impl Send for FreeBlock {}

/// The free blocks of one class: a fixed array, so pooling never allocates.
struct FreeList {
    blocks: [Option<FreeBlock>; BLOCKS_PER_CLASS],
    len: usize,
}

impl FreeList {
    fn pop(&mut self) -> Option<FreeBlock> {
        self.len = self.len.checked_sub(1)?;
        self.blocks[self.len].take()
    }

    /// Keeps `block`, or gives it back if the list is full.
    fn push(&mut self, block: FreeBlock) -> Result<(), FreeBlock> {
        if self.len == BLOCKS_PER_CLASS {
            return Err(block);
        }
        self.blocks[self.len] = Some(block);
        self.len += 1;
        Ok(())
    }
}

struct Pool {
    free: [FreeList; CLASSES],
    bytes: usize,
    limit: usize,
    hits: u64,
    misses: u64,
    overflows: u64,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: [const {
        FreeList {
            blocks: [const { None }; BLOCKS_PER_CLASS],
            len: 0,
        }
    }; CLASSES],
    bytes: 0,
    limit: DEFAULT_POOL_LIMIT,
    hits: 0,
    misses: 0,
    overflows: 0,
});

fn pool() -> MutexGuard<'static, Pool> {
    // The pool's invariants hold between statements, so a panic elsewhere cannot break them.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the pool holds now and its counters.
pub fn pool_stats() -> PoolStats {
    let p = pool();
    PoolStats {
        blocks: p.free.iter().map(|l| l.len).sum(),
        bytes: p.bytes,
        limit: p.limit,
        hits: p.hits,
        misses: p.misses,
        overflows: p.overflows,
    }
}

/// The bound on the bytes the pool keeps.
pub fn pool_limit() -> usize {
    pool().limit
}

/// Sets the bound on the bytes the pool keeps (0 turns pooling off) and frees blocks until the
/// pool fits in it.
pub fn set_pool_limit(bytes: usize) {
    let mut p = pool();
    p.limit = bytes;
    let mut class = CLASSES;
    while p.bytes > p.limit && class > 0 {
        class -= 1;
        while p.bytes > p.limit {
            let Some(block) = p.free[class].pop() else {
                break;
            };
            // SAFETY: the block came from the pool, which owns it alone.
            let capacity = unsafe { (*block.0.as_ptr()).capacity };
            p.bytes -= capacity;
            // SAFETY: as above; it was allocated by `fresh` with this capacity.
            unsafe { free_block(block.0, capacity) };
        }
    }
}

/// Frees every block the pool holds (memory goes back to the allocator). The per-thread caches
/// of small blocks (at most [`SMALL_CACHE_BYTES`] each) are not the pool's: they are freed when
/// their thread ends.
pub fn trim_pool() {
    let limit = pool_limit();
    set_pool_limit(0);
    set_pool_limit(limit);
}

fn poison() -> bool {
    static POISON: OnceLock<bool> = OnceLock::new();
    *POISON.get_or_init(|| std::env::var_os("DESCENT_POOL_POISON").is_some_and(|v| v != "0"))
}

fn block_layout(capacity: usize) -> Option<Layout> {
    Layout::from_size_align(HEADER.checked_add(capacity)?, ALIGN).ok()
}

/// Frees a block.
///
/// # Safety
/// `block` was allocated by [`fresh`] with `capacity`, and nothing refers to it any more.
unsafe fn free_block(block: NonNull<Header>, capacity: usize) {
    let layout = block_layout(capacity).expect("the layout was valid when allocated");
    // SAFETY: the caller guarantees the block came from `alloc`/`alloc_zeroed` with this layout.
    unsafe { dealloc(block.as_ptr().cast(), layout) }
}

/// The elements of a block.
fn elements(block: NonNull<Header>) -> *mut u8 {
    // SAFETY: every block has `HEADER + capacity` bytes, so the element room starts in bounds.
    unsafe { block.as_ptr().cast::<u8>().add(HEADER) }
}

/// Whether a new block's elements must be zero, or only initialized.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fill {
    Zeros,
    Any,
}

/// A block with `count = 1`, `len` elements of `element_bytes`, the first `len * element_bytes`
/// element bytes initialized (zeros if `fill` is `Zeros`).
fn allocate(len: usize, element_bytes: usize, fill: Fill) -> Result<NonNull<Header>, AllocError> {
    let err = |bytes| AllocError {
        elements: len,
        element_bytes,
        bytes,
    };
    let bytes = len.checked_mul(element_bytes).ok_or(err(None))?;
    let class = class_of(bytes);
    let small = small_class_of(bytes);
    let recycled = if let Some((index, _)) = small {
        small_pop(index)
    } else if let Some((index, _)) = class {
        let mut p = pool();
        let block = p.free[index].pop();
        if let Some(FreeBlock(block)) = &block {
            p.hits += 1;
            // SAFETY: the block came from the pool, which owns it alone.
            p.bytes -= unsafe { (*block.as_ptr()).capacity };
        } else {
            p.misses += 1;
        }
        block
    } else {
        None
    };
    if let Some(FreeBlock(block)) = recycled {
        // SAFETY: the block is now ours alone; its header was written when it was allocated.
        let header = unsafe { &mut *block.as_ptr() };
        let data = elements(block);
        if fill == Fill::Zeros {
            // SAFETY: `bytes <= capacity` (same class), inside the block's element room.
            unsafe { data.write_bytes(0, bytes) };
        } else if header.initialized < bytes {
            // SAFETY: `initialized < bytes <= capacity`: the range is inside the element room.
            unsafe {
                data.add(header.initialized)
                    .write_bytes(0, bytes - header.initialized)
            };
        }
        header.initialized = header.initialized.max(bytes);
        header.len = len;
        *header.count.get_mut() = 1;
        return Ok(block);
    }
    let capacity = small.or(class).map_or(bytes, |(_, rounded)| rounded);
    let layout = block_layout(capacity).ok_or(err(Some(bytes)))?;
    // Small blocks: `malloc` and a fill; large ones: `calloc`, which gets
    // zeroed pages from the kernel without a memset.
    let fill_small = capacity <= POOL_MIN_BYTES;
    // SAFETY: the layout has a non-zero size (the header).
    let raw = unsafe {
        if fill_small {
            alloc(layout)
        } else {
            alloc_zeroed(layout)
        }
    };
    let block = NonNull::new(raw.cast::<Header>()).ok_or(err(Some(bytes)))?;
    if fill_small {
        // SAFETY: the element room has `capacity >= bytes` bytes; the whole room is written, so
        // every byte of the block the header claims initialized is.
        unsafe { elements(block).write_bytes(0, capacity) };
    }
    // SAFETY: the block is fresh and large enough for the header, and 16-byte aligned.
    unsafe {
        block.as_ptr().write(Header {
            count: AtomicUsize::new(1),
            len,
            capacity,
            initialized: capacity,
        })
    };
    Ok(block)
}

/// Drops one reference to `block`; the last one pools or frees it.
///
/// # Safety
/// The caller owns one reference to `block` and does not use it afterwards.
unsafe fn release(block: NonNull<Header>, element_bytes: usize) {
    // SAFETY: the caller's reference keeps the block alive.
    let header = unsafe { &*block.as_ptr() };
    // The last reference (the common case: most tensors die unshared) skips the atomic
    // read-modify-write: with the count at 1 no other reference exists, so nobody can raise it
    // meanwhile, and the `Acquire` load pairs with the `Release` decrements of the owners that
    // went before, as the fence below does.
    if header.count.load(Ordering::Acquire) != 1 {
        if header.count.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Every other owner's writes happen before this point (the `Release` above pairs with
        // this).
        fence(Ordering::Acquire);
    }
    // SAFETY: the count reached 0: no other reference exists.
    let header = unsafe { &mut *block.as_ptr() };
    let capacity = header.capacity;
    header.initialized = header.initialized.max(header.len * element_bytes);
    if let Some((index, rounded)) = small_class_of(capacity)
        && rounded == capacity
    {
        match small_push(index, capacity, FreeBlock(block)) {
            Ok(()) => return,
            // SAFETY: no reference is left, and `allocate` made it with this capacity.
            Err(FreeBlock(block)) => return unsafe { free_block(block, capacity) },
        }
    }
    if let Some((index, rounded)) = class_of(capacity)
        && rounded == capacity
    {
        let mut p = pool();
        if p.bytes + capacity <= p.limit && p.free[index].push(FreeBlock(block)).is_ok() {
            p.bytes += capacity;
            return;
        }
        p.overflows += 1;
    }
    // SAFETY: no reference is left, and `fresh` allocated it with this capacity.
    unsafe { free_block(block, capacity) };
}

/// A uniquely owned element buffer, writable as a slice until it is shared.
pub struct Buffer<T> {
    block: NonNull<Header>,
    _elements: PhantomData<T>,
}

// SAFETY: a `Buffer` owns its block alone, as a `Vec<T>` owns its elements.
unsafe impl<T: Send> Send for Buffer<T> {}
// SAFETY: `&Buffer` only gives `&[T]`.
unsafe impl<T: Sync> Sync for Buffer<T> {}

impl<T: Float> Buffer<T> {
    /// `n` zeros.
    ///
    /// # Panics
    /// With the [`AllocError`] message if the memory cannot be allocated.
    #[track_caller]
    pub fn zeroed(n: usize) -> Buffer<T> {
        Buffer::try_zeroed(n).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `n` zeros, or an error if `n` elements cannot be allocated.
    ///
    /// # Errors
    /// [`AllocError`] if the byte size overflows or the allocator refuses.
    pub fn try_zeroed(n: usize) -> Result<Buffer<T>, AllocError> {
        Ok(Buffer {
            block: allocate(n, T::BYTES, Fill::Zeros)?,
            _elements: PhantomData,
        })
    }

    /// `n` elements of unspecified value, for a kernel that overwrites every one: a recycled
    /// block is not cleared (see the module doc).
    ///
    /// # Panics
    /// With the [`AllocError`] message if the memory cannot be allocated.
    #[track_caller]
    pub fn for_overwrite(n: usize) -> Buffer<T> {
        Buffer::try_for_overwrite(n).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `n` elements of unspecified value, or an error if they cannot be allocated.
    ///
    /// # Errors
    /// [`AllocError`] if the byte size overflows or the allocator refuses.
    pub fn try_for_overwrite(n: usize) -> Result<Buffer<T>, AllocError> {
        let mut b = Buffer {
            block: allocate(n, T::BYTES, Fill::Any)?,
            _elements: PhantomData,
        };
        if poison() {
            b.fill(T::from_f64(f64::NAN));
        }
        Ok(b)
    }

    /// A copy of `values`.
    ///
    /// # Errors
    /// [`AllocError`] if the memory cannot be allocated.
    pub fn try_from_slice(values: &[T]) -> Result<Buffer<T>, AllocError> {
        let mut b = Buffer::try_for_overwrite(values.len())?;
        b.copy_from_slice(values);
        Ok(b)
    }

    /// `n` copies of `value`.
    ///
    /// # Errors
    /// [`AllocError`] if the memory cannot be allocated.
    pub fn try_full(n: usize, value: T) -> Result<Buffer<T>, AllocError> {
        if value.to_f64().to_bits() == 0 {
            return Buffer::try_zeroed(n);
        }
        let mut b = Buffer::try_for_overwrite(n)?;
        b.fill(value);
        Ok(b)
    }

    /// The buffer, shared: what a tensor's storage holds. No copy.
    pub fn into_shared(self) -> SharedBuffer<T> {
        let block = self.block;
        std::mem::forget(self);
        SharedBuffer {
            block,
            _elements: PhantomData,
        }
    }
}

impl<T> Buffer<T> {
    fn header(&self) -> &Header {
        // SAFETY: the block lives as long as `self` owns it.
        unsafe { &*self.block.as_ptr() }
    }
}

impl<T> Deref for Buffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the block holds `len` initialized elements of `T` (see `allocate`), 16-byte
        // aligned, alive while `self` is.
        unsafe { std::slice::from_raw_parts(elements(self.block).cast(), self.header().len) }
    }
}

impl<T> DerefMut for Buffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        let len = self.header().len;
        // SAFETY: as in `deref`, and `self` is the block's only owner, so no other reference to
        // the elements exists.
        unsafe { std::slice::from_raw_parts_mut(elements(self.block).cast(), len) }
    }
}

impl<T> Drop for Buffer<T> {
    fn drop(&mut self) {
        // SAFETY: `self` owns the one reference and is not used afterwards.
        unsafe { release(self.block, size_of::<T>()) }
    }
}

impl<T: fmt::Debug> fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A reference-counted, immutable element buffer: what tensors share. Cloning is one atomic
/// increment; the last drop recycles the block through the pool.
pub struct SharedBuffer<T> {
    block: NonNull<Header>,
    _elements: PhantomData<T>,
}

// SAFETY: as `Arc<[T]>`: shared references only give `&[T]`, and mutation needs the count to be 1.
unsafe impl<T: Send + Sync> Send for SharedBuffer<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for SharedBuffer<T> {}

impl<T> SharedBuffer<T> {
    fn header(&self) -> &Header {
        // SAFETY: the block lives while any reference to it does.
        unsafe { &*self.block.as_ptr() }
    }

    /// Whether two buffers are the same block.
    pub fn ptr_eq(a: &SharedBuffer<T>, b: &SharedBuffer<T>) -> bool {
        a.block == b.block
    }

    /// References to the block.
    pub fn strong_count(this: &SharedBuffer<T>) -> usize {
        this.header().count.load(Ordering::Acquire)
    }

    /// The elements, mutable, if this is the only reference to them.
    pub fn get_mut(this: &mut SharedBuffer<T>) -> Option<&mut [T]> {
        if this.header().count.load(Ordering::Acquire) != 1 {
            return None;
        }
        let len = this.header().len;
        // SAFETY: the count is 1 and `this` is borrowed mutably, so no other reference exists
        // (a clone would need `&this`); the elements are initialized (see `allocate`).
        Some(unsafe { std::slice::from_raw_parts_mut(elements(this.block).cast(), len) })
    }
}

impl<T: Float> SharedBuffer<T> {
    /// The elements, mutable, copying them into a buffer of its own first if they are shared.
    ///
    /// # Panics
    /// If the copy cannot be allocated.
    #[track_caller]
    pub fn make_mut(this: &mut SharedBuffer<T>) -> &mut [T] {
        if SharedBuffer::strong_count(this) != 1 {
            let copy = Buffer::try_from_slice(this).unwrap_or_else(|e| panic!("{e}"));
            *this = copy.into_shared();
        }
        SharedBuffer::get_mut(this).expect("a fresh copy is unique")
    }
}

impl<T> Clone for SharedBuffer<T> {
    fn clone(&self) -> SharedBuffer<T> {
        // Relaxed as in `Arc::clone`: the new reference comes from an existing one.
        if self.header().count.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort(); // Over 2^63 clones leaked: as `Arc`, refuse to wrap.
        }
        SharedBuffer {
            block: self.block,
            _elements: PhantomData,
        }
    }
}

impl<T> Deref for SharedBuffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the block holds `len` initialized elements of `T`, alive while `self` is, and
        // nobody mutates them while the count is above 1 (`get_mut` needs it to be 1 and `&mut`).
        unsafe { std::slice::from_raw_parts(elements(self.block).cast(), self.header().len) }
    }
}

impl<T> Drop for SharedBuffer<T> {
    fn drop(&mut self) {
        // SAFETY: `self` owns one reference and is not used afterwards.
        unsafe { release(self.block, size_of::<T>()) }
    }
}

impl<T: fmt::Debug> fmt::Debug for SharedBuffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_is_zero_below_and_above_the_pool_cutoff() {
        for n in [0, 1, 7, POOL_MIN_BYTES / 4, POOL_MIN_BYTES / 4 + 1, 1 << 20] {
            let b = Buffer::<f32>::zeroed(n);
            assert_eq!(b.len(), n);
            assert!(b.iter().all(|&x| x.to_bits() == 0), "n={n}");
            let d = Buffer::<f64>::zeroed(n);
            assert!(d.iter().all(|&x| x.to_bits() == 0), "n={n}");
        }
    }

    #[test]
    fn writes_survive_sharing() {
        let mut b = Buffer::<f64>::zeroed(3);
        b[1] = 2.5;
        let shared = b.into_shared();
        assert_eq!(&shared[..], &[0.0, 2.5, 0.0]);
        assert_eq!(SharedBuffer::strong_count(&shared), 1);
    }

    #[test]
    fn classes_round_up_by_at_most_a_quarter_and_are_distinct() {
        assert_eq!(class_of(POOL_MIN_BYTES), None);
        assert_eq!(class_of(MAX_CLASS_BYTES + 1), None);
        assert_eq!(class_of(POOL_MIN_BYTES + 1), Some((0, 80 * 1024)));
        assert_eq!(
            class_of(MAX_CLASS_BYTES),
            Some((CLASSES - 1, MAX_CLASS_BYTES))
        );
        let mut last = (0, 80 * 1024);
        for bytes in (POOL_MIN_BYTES + 1..=MAX_CLASS_BYTES).step_by(4093) {
            let (index, rounded) = class_of(bytes).unwrap();
            assert!(
                rounded >= bytes && rounded - bytes <= bytes / 4,
                "{bytes} -> {rounded}"
            );
            assert_eq!(
                class_of(rounded),
                Some((index, rounded)),
                "a class is its own class"
            );
            assert!(index >= last.0 && (index > last.0 || rounded == last.1));
            last = (index, rounded);
        }
    }

    #[test]
    fn overflowing_sizes_are_errors() {
        let e = Buffer::<f32>::try_zeroed(1 << 62).unwrap_err();
        assert_eq!(e.bytes, None);
        assert!(e.to_string().contains("overflow"), "{e}");
        let e = Buffer::<f64>::try_for_overwrite(usize::MAX / 8).unwrap_err();
        assert!(e.bytes.is_some(), "{e}");
    }
}

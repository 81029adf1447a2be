//! Image augmentation: a random shift by up to `k` pixels, zero-filled.
//!
//! The shift of a sample is drawn from the stream `"shift/<epoch>/<index>"` of the loader's
//! augmentation seed, where `index` is the sample's index in the dataset: the same sample in the
//! same epoch moves the same way whatever the thread count, the batch size or the batch it falls
//! in, and it moves differently in the next epoch.

use descent_core::rng::Seeds;

/// A random translation of images by up to `max_shift` pixels along each of the last two axes
/// (height and width), filling uncovered pixels with zeros; every channel moves together.
///
/// **PyTorch equivalent**: `torchvision.transforms.RandomAffine(0, translate=..)` with integer
/// pixel steps and `fill=0`; the vertical and horizontal offsets are independent and uniform in
/// `-max_shift..=max_shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomShift {
    /// The largest offset, in pixels, along each axis.
    pub max_shift: usize,
    /// The seed of the shifts (independent of the shuffle's streams even when equal to it).
    pub seed: u64,
}

impl RandomShift {
    /// The offsets `(dy, dx)` of sample `index` in `epoch`.
    pub fn offsets(&self, epoch: u64, index: usize) -> (isize, isize) {
        if self.max_shift == 0 {
            return (0, 0);
        }
        let mut s = Seeds::new(self.seed).stream(&format!("shift/{epoch}/{index}"));
        let span = 2 * self.max_shift as u64 + 1;
        let m = self.max_shift as isize;
        let dy = s.below(span) as isize - m;
        let dx = s.below(span) as isize - m;
        (dy, dx)
    }

    /// Shifts `sample` (row-major, of shape `shape`, at least 2-D: `[.., height, width]`) in
    /// place by the offsets of sample `index` in `epoch`. A pixel moves from `(y, x)` to
    /// `(y + dy, x + dx)`; pixels moved in from outside the image are zero.
    ///
    /// ```
    /// use descent_data::RandomShift;
    /// let shift = RandomShift { max_shift: 1, seed: 0 };
    /// let mut image = vec![1.0f32; 9];
    /// shift.apply(&mut image, &[1, 3, 3], 0, 0);
    /// let (dy, dx) = shift.offsets(0, 0);
    /// let zeros = image.iter().filter(|&&v| v == 0.0).count();
    /// assert_eq!(zeros, 9 - (3 - dy.unsigned_abs()) * (3 - dx.unsigned_abs()));
    /// ```
    ///
    /// # Panics
    /// If `shape` has fewer than two axes or `sample.len()` is not its element count.
    pub fn apply(&self, sample: &mut [f32], shape: &[usize], epoch: u64, index: usize) {
        assert!(
            shape.len() >= 2,
            "RandomShift: samples must be [.., height, width], got {shape:?}"
        );
        assert_eq!(sample.len(), shape.iter().product::<usize>());
        let (dy, dx) = self.offsets(epoch, index);
        let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
        if h * w == 0 {
            return;
        }
        for plane in sample.chunks_exact_mut(h * w) {
            shift_plane(plane, h, w, dy, dx);
        }
    }
}

/// Moves the `h x w` image in `plane` by `dy` rows and `dx` columns in place, zero-filling.
fn shift_plane(plane: &mut [f32], h: usize, w: usize, dy: isize, dx: isize) {
    shift_run(plane, dy, w);
    for row in plane.chunks_exact_mut(w) {
        shift_run(row, dx, 1);
    }
    // A shift of a whole image or more leaves nothing: `shift_run` already zeroed it.
    debug_assert!(dy.unsigned_abs() < h || plane.iter().all(|&v| v == 0.0));
}

/// Moves `items` by `by` steps of `step` elements (towards the end if `by > 0`), zero-filling.
fn shift_run(items: &mut [f32], by: isize, step: usize) {
    let n = items.len();
    let d = (by.unsigned_abs() * step).min(n);
    if d == 0 {
        return;
    }
    if by > 0 {
        items.copy_within(0..n - d, d);
        items[..d].fill(0.0);
    } else {
        items.copy_within(d..n, 0);
        items[n - d..].fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_moves_pixels_and_fills_zeros() {
        // 3x4 image 1..=12, moved down 1 and left 2.
        let mut p: Vec<f32> = (1..=12).map(|x| x as f32).collect();
        shift_plane(&mut p, 3, 4, 1, -2);
        #[rustfmt::skip]
        let want = [
            0.0, 0.0, 0.0, 0.0,
            3.0, 4.0, 0.0, 0.0,
            7.0, 8.0, 0.0, 0.0,
        ];
        assert_eq!(p, want);
        let mut q: Vec<f32> = (1..=12).map(|x| x as f32).collect();
        shift_plane(&mut q, 3, 4, -1, 1);
        #[rustfmt::skip]
        let want = [
            0.0, 5.0, 6.0, 7.0,
            0.0, 9.0, 10.0, 11.0,
            0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(q, want);
        let mut r = vec![1.0f32; 6];
        shift_plane(&mut r, 2, 3, 5, 0);
        assert_eq!(r, vec![0.0; 6]);
    }

    #[test]
    fn offsets_are_in_range_and_vary() {
        let s = RandomShift {
            max_shift: 2,
            seed: 9,
        };
        let all: Vec<_> = (0..200).map(|i| s.offsets(0, i)).collect();
        assert!(
            all.iter()
                .all(|&(a, b)| (-2..=2).contains(&a) && (-2..=2).contains(&b))
        );
        assert!(all.contains(&(-2, 2)) && all.contains(&(2, -2)) && all.contains(&(0, 0)));
        assert_eq!(s.offsets(3, 7), s.offsets(3, 7));
        assert_ne!(
            (0..20).map(|i| s.offsets(0, i)).collect::<Vec<_>>(),
            (0..20).map(|i| s.offsets(1, i)).collect::<Vec<_>>()
        );
    }
}

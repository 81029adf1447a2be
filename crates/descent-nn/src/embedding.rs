//! [`Embedding`]: a lookup table of vectors indexed by integers, as `torch.nn.Embedding`.

use crate::init::{Stream, normal};
use crate::module::{Ctx, Module, Visit, with_module_path};
use descent_core::{Error, IntTensor, Param, Result, TapeRef, Tensor, Var};

/// A table of `num_embeddings` vectors of `embedding_dim` (the parameter `weight`,
/// `[num_embeddings, embedding_dim]`, initialized `N(0, 1)` as PyTorch): indices of any shape
/// `[*]` give `[*, embedding_dim]`, row `i` for index `i`.
///
/// With a `padding_idx`, that row starts at zero and receives no gradient (its entries in the
/// output are constants), so it stays what it is through training, as PyTorch's `padding_idx`.
///
/// Indices are integers ([`IntTensor`]), so the lookup is
/// [`Embedding::forward_indices`]. [`Module::forward`], which takes a float [`Var`], refuses with
/// an error saying so: descent has no float indices (a float cannot silently round to another
/// row), and an embedding is the first layer of a model, fed from the data's integer tokens.
///
/// ```
/// use descent_core::{IntTensor, Tape};
/// use descent_nn::{Ctx, Embedding, Seeds};
/// let emb = Embedding::new(10, 3, Some(0), &Seeds::new(0).stream("emb"));
/// let tape = Tape::new();
/// let tokens = IntTensor::from_vec(vec![0, 4, 4, 9], [2, 2]);
/// let y = emb.forward_indices(&tape.handle(), &tokens, &Ctx::train(0, 0, 0)).unwrap();
/// assert_eq!(y.shape(), &[2, 2, 3]);
/// assert_eq!(y.value().to_vec_f32()[..3], [0.0; 3]); // The padding row.
/// ```
#[derive(Debug)]
pub struct Embedding {
    /// `[num_embeddings, embedding_dim]`.
    pub weight: Param,
    /// The row that is zero at construction and gets no gradient, if any.
    pub padding_idx: Option<usize>,
}

impl Embedding {
    /// A table of `num_embeddings` rows of `embedding_dim`, drawn `N(0, 1)` from `stream`, with
    /// row `padding_idx` (if given) set to zero.
    ///
    /// # Panics
    /// If `padding_idx` is not below `num_embeddings` (PyTorch's assertion; a layer is built
    /// from the model's own constants).
    pub fn new(
        num_embeddings: usize,
        embedding_dim: usize,
        padding_idx: Option<usize>,
        stream: &Stream,
    ) -> Embedding {
        let shape = [num_embeddings, embedding_dim];
        let mut weight = normal(&shape, 1.0, &mut stream.clone());
        if let Some(p) = padding_idx {
            assert!(
                p < num_embeddings,
                "Embedding: padding_idx {p} must be below num_embeddings {num_embeddings}"
            );
            let mut v = weight.to_vec_f32();
            v[p * embedding_dim..(p + 1) * embedding_dim].fill(0.0);
            weight = Tensor::from_vec(v, shape);
        }
        Embedding {
            weight: Param::named("weight", weight),
            padding_idx,
        }
    }

    /// `num_embeddings`, the rows of the table.
    pub fn num_embeddings(&self) -> usize {
        self.weight.shape()[0]
    }

    /// `embedding_dim`, the length of each vector.
    pub fn embedding_dim(&self) -> usize {
        self.weight.shape()[1]
    }

    /// The vectors of `indices` (any shape `[*]`): `[*, embedding_dim]`, recorded on `tape`
    /// (`tape.handle()` of a [`Tape`](descent_core::Tape), or `x.tape()` of a variable), with
    /// the weight as a parameter; the gradient of each row is the sum of the gradients of its
    /// lookups (none for the padding row).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] naming `Embedding` if an index is negative or not below
    /// `num_embeddings`; an error if the tape was dropped or consumed.
    pub fn forward_indices(&self, tape: &TapeRef, indices: &IntTensor, ctx: &Ctx) -> Result<Var> {
        let n = self.num_embeddings();
        let flat = indices.contiguous().to_vec();
        if let Some(&bad) = flat.iter().find(|&&i| i < 0 || i as u64 >= n as u64) {
            return Err(Error::IndexOutOfRange {
                op: "Embedding",
                index: bad,
                size: n,
                axis: 0,
            });
        }
        let w = tape.try_param(&self.weight)?;
        let rows = IntTensor::from_vec(flat.clone(), [flat.len()]);
        let mut y = w.try_index_select(0, &rows)?;
        if let Some(p) = self.padding_idx {
            // The padding positions take the same values as constants, so no gradient reaches
            // the padding row.
            let keep: Vec<f64> = flat
                .iter()
                .map(|&i| if i as usize == p { 0.0 } else { 1.0 })
                .collect();
            if keep.contains(&0.0) {
                let mask = Tensor::from_vec(keep, [flat.len(), 1]).to_dtype(y.value().dtype());
                let frozen = tape.try_constant(y.value().clone())?;
                y = tape.try_constant(mask)?.try_where_cond(&y, &frozen)?;
            }
        }
        let mut shape = indices.shape().to_vec();
        shape.push(self.embedding_dim());
        let y = y.try_reshape(&shape[..])?;
        ctx.record_layer("Embedding", &y, self);
        Ok(y)
    }
}

impl Module for Embedding {
    /// Refuses: an embedding takes integer indices; see [`Embedding::forward_indices`].
    fn forward(&self, x: &Var, _: &Ctx) -> Result<Var> {
        Err(Error::InvalidArgument {
            op: "Embedding",
            message: format!(
                "takes integer indices, not a float Var (got one of shape {:?}); call \
                 embedding.forward_indices(&tape.handle(), &indices, ctx) with an IntTensor",
                x.shape()
            ),
        })
    }
}

impl Visit for Embedding {
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
        with_module_path(prefix, "weight", |path| f(path, &self.weight));
    }

    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        with_module_path(prefix, "weight", |path| f(path, &mut self.weight));
    }
}

crate::impl_params!(Embedding);

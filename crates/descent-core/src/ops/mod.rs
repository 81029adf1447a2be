//! The ops, one file per op family: the `Tensor` forward, the `Var` forward that records it, and
//! the backward rule, side by side. See `README.md` in this folder for the convention.
//!
//! Families and their primitives:
//! - [`view`]: the reshape, permute, transpose, narrow/slice, broadcast_to, squeeze, unsqueeze, flatten
//! - [`unary`]: the neg abs exp log sqrt square recip tanh sigmoid relu leaky_relu gelu erf powf clamp,
//!   and the scalar forms of binary ops
//! - [`binary`]: the add sub mul div pow maximum minimum (broadcasting), operators
//! - [`compare`]: the eq ne lt le gt ge (masks), where_cond
//! - [`reduce`]: the sum mean max min logsumexp var, argmax argmin
//! - [`matmul`]: the 2-D and batched matmul
//! - [`linear`]: the fully connected layer `x W^T + b`, the bias fused into the GEMM
//! - [`softmax`]: the softmax, log_softmax
//! - [`norm`]: the batch_norm, layer_norm (fused, with their own backward)
//! - [`conv`]: the conv2d, conv2d_relu_max_pool2d (fused where the Winograd path serves it)
//! - [`pool`]: the max_pool2d, avg_pool2d
//! - [`join`]: the concat, stack, split
//! - [`index`]: the index_select, gather, scatter_add (integer indices)
//! - [`loss`]: cross_entropy (one fused op with its own backward), nll_loss and the elementwise
//!   losses (compositions)
//! - [`custom`]: user-defined ops ([`CustomOp`](custom::CustomOp))

pub mod binary;
pub mod compare;
pub mod conv;
pub mod custom;
pub mod index;
pub mod inplace;
pub mod join;
pub mod linear;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod softmax;
pub mod unary;
pub mod view;

use crate::error::Result;
use crate::tensor::Tensor;
use smallvec::SmallVec;
use std::cell::RefCell;
use std::thread::LocalKey;

/// The backward half of an op family, implemented by the family's node struct in its file,
/// right under the forward.
pub(crate) trait BackwardRule {
    /// From the gradient `g` of the op's output, the gradients of the inputs that
    /// `grads.needs`, each of exactly that input's shape.
    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()>;

    /// Bytes of the tensors the node keeps alive for its backward rule.
    fn saved_bytes(&self) -> usize;
}

/// A boxed node (the larger ones are boxed to keep tape nodes small) runs its node's rule.
impl<T: BackwardRule> BackwardRule for Box<T> {
    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        (**self).backward(g, grads)
    }

    fn saved_bytes(&self) -> usize {
        (**self).saved_bytes()
    }
}

/// Bytes of an optionally saved tensor.
/// A node type whose boxes are reused: each thread keeps up to [`SPARE_BOXES`] empty ones.
pub(crate) trait Recycled: Sized + 'static {
    /// This type's spare boxes on this thread.
    fn spare() -> &'static LocalKey<RefCell<Vec<Box<Option<Self>>>>>;
}

/// At most this many spare boxes per node type and thread.
const SPARE_BOXES: usize = 16;

/// A boxed node whose box, once the node is dropped (its saved tensors freed), goes back to a
/// spare list of its thread for the next node of its type: a training step records its
/// `linear` and `cross_entropy` nodes into the boxes of the previous step, with no allocation.
pub(crate) struct Pooled<T: Recycled>(Option<Box<Option<T>>>);

impl<T: Recycled> Pooled<T> {
    pub(crate) fn new(node: T) -> Pooled<T> {
        let spare = T::spare()
            .try_with(|s| s.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten();
        Pooled(Some(match spare {
            Some(mut b) => {
                *b = Some(node);
                b
            }
            None => Box::new(Some(node)),
        }))
    }

    fn node(&self) -> &T {
        self.0
            .as_ref()
            .and_then(|b| b.as_ref().as_ref())
            .expect("a pooled node is live until dropped")
    }
}

impl<T: Recycled> Drop for Pooled<T> {
    fn drop(&mut self) {
        let Some(mut b) = self.0.take() else {
            return;
        };
        *b = None; // The saved tensors go now.
        let mut b = Some(b);
        let _ = T::spare().try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut()
                && s.len() < SPARE_BOXES
                && let Some(b) = b.take()
            {
                s.push(b);
            }
        });
    }
}

impl<T: Recycled + BackwardRule> BackwardRule for Pooled<T> {
    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        self.node().backward(g, grads)
    }

    fn saved_bytes(&self) -> usize {
        self.node().saved_bytes()
    }
}

/// Implements [`Recycled`] for a node type, with its thread-local spare list.
macro_rules! recycled {
    ($t:ty) => {
        impl $crate::ops::Recycled for $t {
            fn spare()
            -> &'static ::std::thread::LocalKey<::std::cell::RefCell<Vec<Box<Option<Self>>>>> {
                thread_local! {
                    static SPARE: ::std::cell::RefCell<Vec<Box<Option<$t>>>> =
                        const { ::std::cell::RefCell::new(Vec::new()) };
                }
                &SPARE
            }
        }
    };
}
pub(crate) use recycled;

pub(crate) fn opt(t: &Option<Tensor>) -> usize {
    t.as_ref().map_or(0, Tensor::nbytes)
}

/// Declares [`Op`], one variant per op family, and its dispatch: a new family is one line here.
macro_rules! op_families {
    ($($(#[$doc:meta])* $variant:ident($node:ty),)*) => {
        /// What a recorded node saved for its backward rule: one variant per op family, each
        /// holding the family's node struct (defined, with its [`BackwardRule`], in the
        /// family's file). This enum only dispatches.
        pub(crate) enum Op {
            $($(#[$doc])* $variant($node),)*
        }

        impl Op {
            /// The family's rule.
            fn rule(&self) -> &dyn BackwardRule {
                match self {
                    $(Op::$variant(n) => n,)*
                }
            }
        }
    };
}

op_families! {
    // The larger nodes are boxed so that a tape node stays small (W4: most ops are unary).
    Unary(unary::UnaryNode),
    Binary(Box<binary::BinaryNode>),
    Where(Box<compare::WhereNode>),
    Reduce(Box<reduce::ReduceNode>),
    Matmul(Box<matmul::MatmulNode>),
    Linear(Pooled<linear::LinearNode>),
    Softmax(softmax::SoftmaxNode),
    CrossEntropy(Pooled<loss::CrossEntropyNode>),
    BatchNorm(Box<norm::BatchNormNode>),
    LayerNorm(Box<norm::LayerNormNode>),
    Conv2d(Box<conv::Conv2dNode>),
    Conv2dReluPool(Box<conv::Conv2dReluPoolNode>),
    Pool2d(Box<pool::Pool2dNode>),
    Concat(join::ConcatNode),
    Index(index::IndexNode),
    Scatter(Box<index::ScatterNode>),
    Custom(Box<custom::CustomNode>),
    View(view::ViewNode),
}

impl Op {
    /// Runs the op's backward rule: from the gradient `g` of its output, the gradients of the
    /// inputs that `grads.needs`.
    pub(crate) fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        self.rule().backward(g, grads)
    }

    /// Bytes of the tensors the node keeps alive for its backward rule.
    pub(crate) fn saved_bytes(&self) -> usize {
        self.rule().saved_bytes()
    }
}

/// The gradients a backward rule hands back, one slot per input in argument order.
/// Three inline, as [`NodeInputs`](crate::tape::NodeInputs): no allocation for the built-in ops.
pub(crate) struct GradsIn {
    need: SmallVec<[bool; 4]>,
    grads: SmallVec<[Option<Tensor>; 3]>,
}

impl GradsIn {
    pub(crate) fn new(need: SmallVec<[bool; 4]>) -> GradsIn {
        let mut grads = SmallVec::new();
        grads.resize_with(need.len(), || None);
        GradsIn { need, grads }
    }

    /// Whether input `slot` requires a gradient (a rule skips the work for inputs that do not).
    pub(crate) fn needs(&self, slot: usize) -> bool {
        self.need.get(slot).copied().unwrap_or(false)
    }

    /// Sets the gradient of input `slot`; it must have that input's shape.
    pub(crate) fn set(&mut self, slot: usize, g: Tensor) {
        if self.needs(slot) {
            self.grads[slot] = Some(g);
        }
    }

    /// The number of input slots.
    pub(crate) fn len(&self) -> usize {
        self.grads.len()
    }

    /// Takes the gradient of input `slot`, if the rule set one (in place: moving the slots out
    /// by value would copy all of them).
    pub(crate) fn take(&mut self, slot: usize) -> Option<Tensor> {
        self.grads[slot].take()
    }
}

//! `#[derive(Module)]` on user structs (nested, `Vec`, `Option`, `Box`, tuple, generic, skipped
//! fields), buffers in weight files, and `summary`.

use descent_core::io::AnyTensor;
use descent_core::{IntTensor, Param, Params, Result, Tape, Tensor, Var};
use descent_nn::{Buffer, Ctx, Linear, Module, ReLU, Seeds, Sequential, Visit};

/// A layer with a buffer, written by hand: counts its training forwards.
struct Counter {
    scale: Param,
    calls: Buffer,
    seen: Buffer,
}

impl Counter {
    fn new() -> Counter {
        Counter {
            scale: Param::new(Tensor::ones([2])),
            calls: Buffer::int(IntTensor::scalar(0)),
            seen: Buffer::float(Tensor::zeros([2])),
        }
    }
}

impl Module for Counter {
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        if ctx.is_train() {
            let n = self.calls.int_tensor().item();
            self.calls.set(IntTensor::scalar(n + 1).into())?;
            self.seen.set(x.value().sum_to(&[2]).into())?;
        }
        let y = x.try_mul(&x.tape().try_param(&self.scale)?)?;
        ctx.record_layer("Counter", &y, self);
        Ok(y)
    }
}

#[derive(Module)]
struct Manual {
    scale: Param,
    calls: Buffer,
    seen: Buffer,
}

// `Counter`'s visitors by hand (what the derive writes for `Manual`).
impl Visit for Counter {
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
        self.scale
            .visit_params(&descent_nn::module_path(prefix, "scale"), f)
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        self.scale
            .visit_params_mut(&descent_nn::module_path(prefix, "scale"), f)
    }
    fn visit_buffers<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Buffer)) {
        f(&descent_nn::module_path(prefix, "calls"), &self.calls);
        f(&descent_nn::module_path(prefix, "seen"), &self.seen);
    }
}

#[derive(Module)]
struct Block {
    fc: Linear,
    norm: Counter,
}

#[derive(Module)]
struct Net {
    stem: Linear,
    blocks: Vec<Block>,
    head: Option<Linear>,
    extra: Option<Linear>,
    boxed: Box<dyn Module>,
    pair: (usize, f64),
    #[module(skip)]
    _note: String,
    width: usize,
}

impl Module for Net {
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        let mut x = self.stem.forward(x, ctx)?;
        for b in &self.blocks {
            x = b.norm.forward(&b.fc.forward(&x, ctx)?, ctx)?;
            x = ReLU.forward(&x, ctx)?;
        }
        x = self.boxed.forward(&x, ctx)?;
        match &self.head {
            Some(h) => h.forward(&x, ctx),
            None => Ok(x),
        }
    }
}

fn net(seed: u64) -> Net {
    let s = Seeds::new(seed);
    Net {
        stem: Linear::new(3, 2, true, &s.stream("stem")),
        blocks: vec![
            Block {
                fc: Linear::new(2, 2, false, &s.stream("b0")),
                norm: Counter::new(),
            },
            Block {
                fc: Linear::new(2, 2, true, &s.stream("b1")),
                norm: Counter::new(),
            },
        ],
        head: Some(Linear::new(2, 4, true, &s.stream("head"))),
        extra: None,
        boxed: Box::new(Sequential::new().push(Linear::new(2, 2, true, &s.stream("boxed")))),
        pair: (1, 2.0),
        _note: String::from("skipped"),
        width: 2,
    }
}

#[test]
fn derive_names_nested_fields_as_pytorch_state_dict_paths() {
    let m = net(0);
    let names: Vec<String> = m.named_params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "stem.weight",
            "stem.bias",
            "blocks.0.fc.weight",
            "blocks.0.norm.scale",
            "blocks.1.fc.weight",
            "blocks.1.fc.bias",
            "blocks.1.norm.scale",
            "head.weight",
            "head.bias",
            "boxed.0.weight",
            "boxed.0.bias",
        ]
    );
    let buffers: Vec<String> = m.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        buffers,
        [
            "blocks.0.norm.calls",
            "blocks.0.norm.seen",
            "blocks.1.norm.calls",
            "blocks.1.norm.seen"
        ]
    );
    assert_eq!(m.width, 2);
    assert_eq!(m.pair.0, 1);
    // `Params` for optimizers comes from the derive too, in the same order.
    let mut n = 0;
    m.visit(&mut |_| n += 1);
    assert_eq!(n, names.len());
    assert_eq!(Params::num_params(&m), m.num_parameters());
}

#[test]
fn derive_on_tuple_and_generic_structs() {
    #[derive(Module)]
    struct Pair(Linear, Linear);
    #[derive(Module)]
    struct Wrap<M: Visit> {
        inner: M,
        scale: Param,
    }
    let s = Seeds::new(1);
    let p = Pair(
        Linear::new(1, 1, true, &s.stream("a")),
        Linear::new(1, 1, false, &s.stream("b")),
    );
    let names: Vec<String> = p.named_params_via_visit();
    assert_eq!(names, ["0.weight", "0.bias", "1.weight"]);
    let w = Wrap {
        inner: p,
        scale: Param::new(Tensor::ones([1])),
    };
    let names = w.named_params_via_visit();
    assert_eq!(
        names,
        ["inner.0.weight", "inner.0.bias", "inner.1.weight", "scale"]
    );
    let m = Manual {
        scale: Param::new(Tensor::ones([1])),
        calls: Buffer::int(IntTensor::scalar(0)),
        seen: Buffer::float(Tensor::zeros([1])),
    };
    assert_eq!(m.named_params_via_visit(), ["scale"]);
    let mut b = Vec::new();
    m.visit_buffers("m", &mut |n, _| b.push(n.to_string()));
    assert_eq!(b, ["m.calls", "m.seen"]);
}

trait NamesViaVisit {
    fn named_params_via_visit(&self) -> Vec<String>;
}
impl<T: Visit> NamesViaVisit for T {
    fn named_params_via_visit(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.visit_params("", &mut |n, _| out.push(n.to_string()));
        out
    }
}

#[test]
fn buffers_update_in_training_through_shared_reference_and_not_in_eval() {
    let m = net(2);
    let tape = Tape::new();
    let x = tape.constant(Tensor::ones([5, 3]));
    m.forward(&x, &Ctx::train(0, 0, 0)).unwrap();
    m.forward(&x, &Ctx::train(0, 0, 1)).unwrap();
    m.forward(&x, &Ctx::eval()).unwrap();
    assert_eq!(m.blocks[0].norm.calls.int_tensor().item(), 2);
    // Eval forwards of one shared model on two threads.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let tape = Tape::new();
                let y = tape.no_grad(|| {
                    m.forward(&tape.constant(Tensor::ones([5, 3])), &Ctx::eval())
                        .unwrap()
                });
                assert_eq!(y.shape(), [5, 4]);
            });
        }
    });
    assert_eq!(m.blocks[1].norm.calls.int_tensor().item(), 2);
}

#[test]
fn weight_files_carry_buffers_by_name_and_load_strictly() {
    let a = net(3);
    let tape = Tape::new();
    a.forward(&tape.constant(Tensor::ones([5, 3])), &Ctx::train(0, 0, 0))
        .unwrap();
    let bytes = descent_nn::save_bytes(&a).unwrap();
    let file = descent_core::io::from_bytes(&bytes).unwrap();
    assert_eq!(
        file.get("blocks.1.norm.calls"),
        Some(&AnyTensor::Int(IntTensor::scalar(1)))
    );
    let mut b = net(4);
    assert_ne!(b.stem.weight.value(), a.stem.weight.value());
    descent_nn::load_bytes(&bytes, &mut b).unwrap();
    assert_eq!(b.stem.weight.value(), a.stem.weight.value());
    assert_eq!(b.blocks[1].norm.calls.int_tensor().item(), 1);
    assert_eq!(
        b.blocks[0].norm.seen.tensor(),
        a.blocks[0].norm.seen.tensor()
    );

    // A buffer of the wrong kind: named, and nothing is loaded.
    let mut entries: Vec<(String, AnyTensor)> = file.tensors.clone();
    for (name, t) in &mut entries {
        if name == "blocks.0.norm.calls" {
            *t = AnyTensor::Float(Tensor::zeros([]));
        }
    }
    let bad = descent_core::io::to_bytes(&entries, &Default::default()).unwrap();
    let mut c = net(5);
    let before = c.stem.weight.value().clone();
    let err = descent_nn::load_bytes(&bad, &mut c)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("buffer `blocks.0.norm.calls`") && err.contains("expected I64"),
        "{err}"
    );
    assert_eq!(c.stem.weight.value(), &before);

    // A missing buffer.
    let missing: Vec<(String, AnyTensor)> = file
        .tensors
        .iter()
        .filter(|(n, _)| n != "blocks.1.norm.seen")
        .cloned()
        .collect();
    let bad = descent_core::io::to_bytes(&missing, &Default::default()).unwrap();
    let err = descent_nn::load_bytes(&bad, &mut c)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("buffer `blocks.1.norm.seen` is missing"),
        "{err}"
    );
}

#[test]
fn summary_lists_layers_in_call_order_with_shapes_and_totals() {
    let mut m = net(6);
    m.stem.weight.set_requires_grad(false);
    let s = m.summary(&[7, 3]).unwrap();
    let layers: Vec<(&str, &[usize], usize)> = s
        .rows
        .iter()
        .map(|r| (r.layer.as_str(), r.output_shape.as_slice(), r.params))
        .collect();
    assert_eq!(
        layers,
        [
            ("Linear-1", &[7, 2][..], 8),
            ("Linear-2", &[7, 2][..], 4),
            ("Counter-3", &[7, 2][..], 2),
            ("ReLU-4", &[7, 2][..], 0),
            ("Linear-5", &[7, 2][..], 6),
            ("Counter-6", &[7, 2][..], 2),
            ("ReLU-7", &[7, 2][..], 0),
            ("Linear-8", &[7, 2][..], 6),
            ("Linear-9", &[7, 4][..], 12),
        ]
    );
    assert_eq!(s.total, m.num_parameters());
    assert_eq!(s.total, 40);
    assert_eq!(s.trainable, 40 - 6);
    let table = s.to_string();
    assert!(table.contains("Linear-9"), "{table}");
    assert!(table.contains("Total params: 40"), "{table}");
    assert!(table.contains("Non-trainable params: 6"), "{table}");
    // A summary runs in eval mode: buffers are not touched.
    assert_eq!(m.blocks[0].norm.calls.int_tensor().item(), 0);
    // A shape the model cannot take is the model's error.
    assert!(m.summary(&[7, 5]).is_err());
}

#[test]
fn checkpoints_key_parameters_and_optimizer_state_by_path() {
    use descent_optim::{Adam, AdamConfig, Optimizer, checkpoint};
    let mut m = net(7);
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let tape = Tape::new();
    let y = m
        .forward(&tape.constant(Tensor::ones([5, 3])), &Ctx::train(0, 0, 0))
        .unwrap();
    opt.step(&mut m, &y.square().sum_all().backward()).unwrap();
    let path = std::env::temp_dir().join(format!("descent-nn-ckpt-{}.st", std::process::id()));
    checkpoint::save(&path, &m, &opt).unwrap();
    let file = descent_core::io::load(&path).unwrap();
    for name in [
        "blocks.1.fc.bias",
        "optimizer.blocks.1.fc.bias.exp_avg",
        "optimizer.head.weight.exp_avg_sq",
    ] {
        assert!(file.get(name).is_some(), "{name}");
    }
    let mut resumed = net(8);
    let mut opt2 = Adam::new(AdamConfig::default()).unwrap();
    checkpoint::load(&path, &mut resumed, &mut opt2).unwrap();
    assert_eq!(resumed.stem.weight.value(), m.stem.weight.value());
    assert_eq!(opt2.steps(), 1);
    std::fs::remove_file(&path).unwrap();
}

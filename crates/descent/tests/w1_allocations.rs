//! Heap allocations of one W1 training step after warm-up (issue 12: at most 10).
//!
//! W1 of `../shared/anchors/WORKLOADS.md`: the MLP 784-256-256-10 of `benches/common`, Adam,
//! a batch of 128, through `descent_train::train_step` (a fresh tape and `Ctx` per step, the loss
//! read back), as `descent_bench w1` runs it.
//! The counter (`allocation_counter`) counts the allocations of the thread that measures, so the
//! step runs inside a one-thread rayon pool: every kernel, parallel or not, then runs on the
//! measured thread. matrixmultiply's own worker threads do not allocate (its packing buffer is
//! allocated by the calling thread, once per GEMM call: 8 of the count, 3 forward and 5 backward).

#[path = "../../../benches/common/workload_models.rs"]
mod workload_models;

use descent::optim::{Adam, AdamConfig};
use descent::prelude::*;
use descent::train::train_step;
use rand::{Rng, SeedableRng};

/// The bound of issue 12.
const MAX_ALLOCATIONS_PER_STEP: u64 = 10;

fn cross_entropy(out: &Var, labels: &IntTensor) -> Result<Var> {
    out.try_cross_entropy(labels)
}

#[test]
fn a_w1_training_step_allocates_at_most_ten_times_after_warm_up() {
    let probe = allocation_counter::measure(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert_eq!(probe.count_total, 1, "the counter counts");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool");
    pool.install(|| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let x = Tensor::randn([128, 784], &mut rng);
        let labels: Vec<usize> = (0..128).map(|_| rng.random_range(0..10)).collect();
        let labels = IntTensor::from(&labels[..]);
        let mut model = workload_models::w1_mlp();
        let mut opt = Adam::new(AdamConfig {
            lr: 1e-3,
            ..AdamConfig::default()
        })
        .expect("a valid config");
        let mut step = 0u64;
        let mut run = |model: &mut descent::nn::Sequential, opt: &mut Adam| {
            let ctx = Ctx::train(0, 0, step);
            let loss = train_step(model, opt, &Tape::new(), &x, &labels, &ctx, &cross_entropy)
                .expect("a W1 step");
            step += 1;
            loss
        };
        for _ in 0..3 {
            run(&mut model, &mut opt);
        }
        let mut counts = Vec::new();
        for _ in 0..5 {
            let mut loss = 0.0;
            let info = allocation_counter::measure(|| loss = run(&mut model, &mut opt));
            assert!(loss.is_finite());
            counts.push(info.count_total);
        }
        println!("W1 allocations per step after warm-up: {counts:?}");
        // Where they are: the parts of a step, measured one by one.
        let count = |f: &mut dyn FnMut()| allocation_counter::measure(f).count_total;
        let tape = count(&mut || drop(std::hint::black_box(Tape::new())));
        let step_tape = Tape::new();
        let ctx = Ctx::train(0, 0, 100);
        let (mut out, mut loss, mut grads) = (None, None, None);
        let forward =
            count(&mut || out = Some(model.forward(&step_tape.constant(&x), &ctx).unwrap()));
        let out = out.expect("forward ran");
        let ce = count(&mut || loss = Some(out.cross_entropy(&labels)));
        let loss = loss.expect("loss ran");
        let item = count(&mut || assert!(loss.value().item().is_finite()));
        let backward = count(&mut || grads = Some(loss.backward()));
        let grads = grads.expect("backward ran");
        let update = count(&mut || {
            opt.step(&mut model, &grads).unwrap();
        });
        println!(
            "  new tape {tape}, forward {forward} (one GEMM packing buffer per linear), \
             cross-entropy {ce}, loss read back {item}, backward {backward} (GEMM packing \
             buffers), Adam {update}"
        );
        let worst = *counts.iter().max().expect("five steps");
        assert!(
            worst <= MAX_ALLOCATIONS_PER_STEP,
            "a W1 step allocated {worst} times (bound {MAX_ALLOCATIONS_PER_STEP}): {counts:?}"
        );
    });
}

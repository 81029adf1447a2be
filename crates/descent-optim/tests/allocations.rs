//! After its first step (which allocates the state buffers), no optimizer step allocates.

use descent_core::{Gradients, Param, Tensor};
use descent_optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, Optimizer, RmsProp,
    RmsPropConfig, Sgd, SgdConfig,
};

/// Allocations made on this thread while `f` runs (`allocation-counter` swaps the global
/// allocator of this test binary for a counting one).
fn allocations_during(f: impl FnOnce()) -> u64 {
    allocation_counter::measure(f).count_total
}

#[test]
fn steps_after_the_first_do_not_allocate() {
    let optimizers: Vec<Box<dyn Optimizer + Send>> = vec![
        Box::new(
            Sgd::with_config(SgdConfig {
                lr: 0.01,
                momentum: 0.9,
                nesterov: true,
                ..SgdConfig::default()
            })
            .unwrap(),
        ),
        Box::new(
            Adam::new(AdamConfig {
                amsgrad: true,
                weight_decay: 0.01,
                ..AdamConfig::default()
            })
            .unwrap(),
        ),
        Box::new(
            AdamW::new(AdamWConfig {
                weight_decay: 0.01,
                ..AdamWConfig::default()
            })
            .unwrap(),
        ),
        Box::new(
            RmsProp::new(RmsPropConfig {
                centered: true,
                momentum: 0.5,
                ..RmsPropConfig::default()
            })
            .unwrap(),
        ),
        Box::new(Adagrad::new(AdagradConfig::default()).unwrap()),
    ];
    let probe = allocations_during(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert_eq!(probe, 1, "the counter counts");
    for mut opt in optimizers {
        // Small (serial) and large (parallel: rayon's workers allocate nothing on this thread
        // either way, and the split itself is allocation-free) parameters.
        let mut params = vec![
            Param::named("small", Tensor::ones([3, 5])),
            Param::named("large", Tensor::ones([100_000])),
        ];
        let mut grads = Gradients::default();
        for p in &params {
            grads.insert(p.id(), p.value().to_dtype(descent_core::DType::F32) * 0.5);
        }
        opt.step(&mut params, &grads).unwrap();
        // Measured on a worker of a 2-thread pool, so the large parameter's update forks as in
        // training; from outside a pool, rayon's job injector allocates a block now and then on
        // the calling thread, which is rayon's and not the optimizer's.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let n = pool.install(|| {
            allocations_during(|| {
                for _ in 0..5 {
                    opt.step(&mut params, &grads).unwrap();
                }
            })
        });
        assert_eq!(n, 0, "{} allocated {n} times in 5 steps", opt.name());
    }
}

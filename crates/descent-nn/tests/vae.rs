//! The VAE's building blocks (`examples/vae.rs`): the reparameterized sample
//! `z = mu + exp(logvar / 2) * eps`, with `eps` a constant on the tape, passes its gradient to
//! `mu` and `logvar` (and to the encoder's weights behind them), and the whole negative ELBO
//! gradchecks. The KL term itself is tested against its closed form and gradchecked in
//! `descent-core/tests/losses.rs` (`gaussian_kl_matches_a_naive_loop_and_gradchecks`).

use descent_core::{DType, GradcheckConfig, Reduction, Tape, Tensor, Var, gradcheck};
use descent_nn::init::normal;
use descent_nn::{Ctx, Linear, Module, Seeds};

/// `mu + exp(logvar / 2) * eps`.
fn reparameterize(mu: &Var, logvar: &Var, eps: &Var) -> Var {
    mu.try_add(&logvar.mul_scalar(0.5).exp().try_mul(eps).unwrap())
        .unwrap()
}

#[test]
fn the_reparameterized_sample_passes_its_gradient_to_mu_and_logvar() {
    let mu = Tensor::from_vec(vec![0.3f64, -1.2, 0.0, 2.0], [2, 2]);
    let logvar = Tensor::from_vec(vec![0.0f64, 0.8, -1.5, 0.4], [2, 2]);
    let eps = Tensor::from_vec(vec![1.0f64, -0.5, 2.0, 0.25], [2, 2]);
    let tape = Tape::new();
    let (m, lv) = (tape.var(mu.clone()), tape.var(logvar.clone()));
    let e = tape.constant(eps.clone());
    let z = reparameterize(&m, &lv, &e);
    // z's value: the sample itself.
    let (mv, lvv, ev) = (mu.to_vec_f64(), logvar.to_vec_f64(), eps.to_vec_f64());
    let want_z: Vec<f64> = (0..4)
        .map(|i| mv[i] + (lvv[i] / 2.0).exp() * ev[i])
        .collect();
    let got_z = z.value().to_vec_f64();
    for (g, w) in got_z.iter().zip(&want_z) {
        assert!((g - w).abs() < 1e-12, "{got_z:?} vs {want_z:?}");
    }
    // d sum(z) / d mu = 1; d sum(z) / d logvar = exp(logvar / 2) eps / 2; eps gets none.
    let grads = z.sum_all().backward();
    assert_eq!(grads.wrt(&m).unwrap().to_vec_f64(), vec![1.0; 4]);
    let want: Vec<f64> = (0..4).map(|i| (lvv[i] / 2.0).exp() * ev[i] / 2.0).collect();
    let got = grads.wrt(&lv).unwrap().to_vec_f64();
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
    }
    assert!(
        grads
            .wrt(&e)
            .is_none_or(|g| g.to_vec_f64().iter().all(|&v| v == 0.0))
    );
}

#[test]
fn the_negative_elbo_gradchecks_through_the_sample() {
    // x in [0, 1], mu, logvar, and the decoder's logits as a function of z: a linear map.
    let x = Tensor::from_vec(vec![0.0f64, 0.25, 1.0, 0.5, 0.9, 0.1], [2, 3]);
    let eps = Tensor::from_vec(vec![0.7f64, -1.1, 0.2, 1.4], [2, 2]);
    let mu = Tensor::from_vec(vec![0.1f64, -0.4, 0.8, 0.3], [2, 2]);
    let logvar = Tensor::from_vec(vec![-0.3f64, 0.2, 0.5, -1.0], [2, 2]);
    let w = Tensor::from_vec(vec![0.5f64, -0.2, 0.9, 1.1, 0.3, -0.7], [2, 3]);
    let report = gradcheck(
        |tape, v| {
            let z = reparameterize(&v[0], &v[1], &tape.constant(&eps));
            let logits = z.matmul(&v[2]);
            let bce = logits.binary_cross_entropy_with_logits(&tape.constant(&x), Reduction::Sum);
            let kl = v[0].gaussian_kl(&v[1], Reduction::Sum);
            bce.try_add(&kl).unwrap().div_scalar(2.0)
        },
        &[mu, logvar, w],
        &GradcheckConfig::default(),
    );
    assert!(report.is_ok(), "{report:?}");
}

#[test]
fn the_gradient_reaches_the_encoder_and_both_heads_weights() {
    let s = Seeds::new(3);
    let (enc, mu_head, lv_head) = (
        Linear::new(6, 5, true, &s.stream("enc")),
        Linear::new(5, 2, true, &s.stream("mu")),
        Linear::new(5, 2, true, &s.stream("logvar")),
    );
    let ctx = Ctx::train(0, 0, 0);
    let tape = Tape::new();
    let x = tape.constant(normal(&[4, 6], 1.0, &mut s.stream("x")));
    let h = enc.forward(&x, &ctx).unwrap().relu();
    let (mu, logvar) = (
        mu_head.forward(&h, &ctx).unwrap(),
        lv_head.forward(&h, &ctx).unwrap(),
    );
    let eps = tape.constant(normal(&[4, 2], 1.0, &mut ctx.next_stream()));
    let z = reparameterize(&mu, &logvar, &eps);
    let grads = z.square().sum_all().backward();
    // Intermediate vars keep no gradient; the parameters behind mu and logvar do.
    for (name, layer) in [("enc", &enc), ("mu", &mu_head), ("logvar", &lv_head)] {
        for (path, p) in layer.named_params() {
            let g = grads
                .get(p)
                .unwrap_or_else(|| panic!("no gradient for {name}.{path}"));
            assert_eq!(g.dtype(), DType::F32);
            assert!(
                g.to_vec_f64().iter().any(|&v| v != 0.0),
                "{name}.{path}'s gradient is all zero"
            );
        }
    }
}

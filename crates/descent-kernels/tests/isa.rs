//! Instruction-set selection: the AVX2 path is listed (and so exercised by every
//! `*_avx2_matches_reference` test) whenever the CPU has AVX2 and FMA, and `isa()` honours
//! `DESCENT_FORCE_ISA`.

use descent_kernels::elementwise::{BinaryOp, binary_row};
use descent_kernels::reduce::{ReduceOp, reduce_row_with};
use descent_kernels::{Isa, isa};

fn cpu_has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[test]
fn avx2_path_is_exercised_when_the_cpu_has_it() {
    let supported = Isa::supported();
    assert_eq!(supported[0], Isa::Fallback);
    assert!(Isa::Fallback.is_supported());
    if !cpu_has_avx2_fma() {
        eprintln!(
            "note: this CPU has no AVX2+FMA: only the fallback path is tested; the avx2 tests \
             are skipped"
        );
        assert_eq!(supported, vec![Isa::Fallback]);
        return;
    }
    assert!(
        supported.contains(&Isa::Avx2Fma),
        "the CPU has AVX2 and FMA but Isa::supported() = {supported:?}: the avx2 path would \
         silently go untested"
    );
    assert!(Isa::Avx2Fma.is_supported());
    // Run it once here too.
    let (a, b) = ([1.0f32; 19], [2.0f32; 19]);
    let mut out = [0.0f32; 19];
    binary_row(Isa::Avx2Fma, BinaryOp::Mul, &a, 1, &b, 1, &mut out);
    assert_eq!(out, [2.0; 19]);
    assert_eq!(reduce_row_with(Isa::Avx2Fma, ReduceOp::Sum, &out), 38.0);
}

#[test]
fn default_isa_honours_descent_force_isa() {
    let forced = std::env::var("DESCENT_FORCE_ISA").ok();
    let best = if cpu_has_avx2_fma() {
        Isa::Avx2Fma
    } else {
        Isa::Fallback
    };
    match forced.as_deref() {
        Some("fallback") | Some("scalar") => assert_eq!(isa(), Isa::Fallback),
        _ => assert_eq!(isa(), best),
    }
    assert!(isa().is_supported());
    eprintln!(
        "default path: {} (DESCENT_FORCE_ISA={forced:?})",
        isa().name()
    );
}

#[test]
fn isa_names_match_descent_force_isa_spelling() {
    assert_eq!(Isa::Fallback.name(), "fallback");
    assert_eq!(Isa::Avx2Fma.name(), "avx2");
}

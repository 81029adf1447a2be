//! Runtime instruction-set detection, cached once, with an override for tests.
//!
//! `DESCENT_FORCE_ISA=fallback` forces the portable path; `DESCENT_FORCE_ISA=avx2` asks for the
//! AVX2+FMA path (honoured only when the CPU has it). Kernels also take an explicit [`Isa`] so
//! tests can run every path in one process.

use std::sync::OnceLock;

/// An instruction-set path a kernel can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable Rust the compiler may vectorize for the baseline target.
    Fallback,
    /// x86-64 AVX2 + FMA, chosen at run time.
    Avx2Fma,
}

impl Isa {
    /// Whether this machine can run the path.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Fallback => true,
            Isa::Avx2Fma => avx2_fma_detected(),
        }
    }

    /// Every path this machine can run, the portable one first.
    pub fn supported() -> Vec<Isa> {
        [Isa::Fallback, Isa::Avx2Fma]
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }

    /// The path's name, as `DESCENT_FORCE_ISA` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Fallback => "fallback",
            Isa::Avx2Fma => "avx2",
        }
    }
}

fn avx2_fma_detected() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The path kernels take by default: the best the CPU has, unless `DESCENT_FORCE_ISA` says otherwise.
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let best = if avx2_fma_detected() {
            Isa::Avx2Fma
        } else {
            Isa::Fallback
        };
        match std::env::var("DESCENT_FORCE_ISA").as_deref() {
            Ok("fallback") | Ok("scalar") => Isa::Fallback,
            _ => best,
        }
    })
}

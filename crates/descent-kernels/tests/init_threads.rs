//! `parallel::init_threads`: the calling thread joins rayon's global pool (this file is its own
//! process, so the pool does not exist before the test builds it), forks from it run one half
//! on it, and the lower in-pool cut-offs apply there only.

use descent_kernels::matmul::{GEMM_PAR_MACS, GEMM_PAR_MACS_IN_POOL, gemm_par_macs};
use descent_kernels::parallel::{
    OPTIM_PAR_THRESHOLD, OPTIM_PAR_THRESHOLD_IN_POOL, in_pool, init_threads, optim_par_threshold,
};

#[test]
fn the_calling_thread_joins_the_pool_and_takes_the_in_pool_cut_offs() {
    assert!(!in_pool(), "nothing built the global pool before");
    assert_eq!(optim_par_threshold(), OPTIM_PAR_THRESHOLD);
    assert!(init_threads(), "the first call takes this thread in");
    assert!(in_pool());
    assert_eq!(rayon::current_thread_index(), Some(0));
    assert!(init_threads(), "a second call changes nothing");
    // A fork from here runs its first half on this thread.
    let (here, _) = rayon::join(rayon::current_thread_index, rayon::current_thread_index);
    assert_eq!(here, Some(0));
    assert_eq!(optim_par_threshold(), OPTIM_PAR_THRESHOLD_IN_POOL);
    let env_set = std::env::var("DESCENT_GEMM_PAR_MACS").is_ok();
    if !env_set {
        assert_eq!(gemm_par_macs(), GEMM_PAR_MACS_IN_POOL);
    }
    // Another thread cannot join the pool once it exists; it keeps the cut-offs for callers
    // outside it.
    std::thread::spawn(move || {
        assert!(!init_threads());
        assert!(!in_pool());
        assert_eq!(optim_par_threshold(), OPTIM_PAR_THRESHOLD);
        if !env_set {
            assert_eq!(gemm_par_macs(), GEMM_PAR_MACS);
        }
    })
    .join()
    .unwrap();
}

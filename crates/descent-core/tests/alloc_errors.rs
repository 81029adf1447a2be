//! Hostile sizes: a tensor that cannot be allocated is an error naming the op, the shape and the
//! bytes (a panic with that message from the plain forms), never an abort or a wrapped count.

use descent_core::{DType, Error, Tensor};

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let err = std::panic::catch_unwind(f).expect_err("it must panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn try_zeros_of_four_tebibytes_is_an_error_with_op_shape_and_bytes() {
    let err = Tensor::try_zeros([1 << 40]).unwrap_err();
    assert_eq!(
        err,
        Error::OutOfMemory {
            op: "zeros",
            shape: [1usize << 40][..].into(),
            dtype: DType::F32,
            bytes: Some(1 << 42),
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("zeros") && message.contains("[1099511627776]"),
        "{message}"
    );
    assert!(message.contains("4398046511104 bytes"), "{message}");
    let message = panic_message(|| drop(Tensor::ones([1 << 40])));
    assert!(
        message.starts_with("ones: ") && message.contains("4398046511104 bytes"),
        "{message}"
    );
}

#[test]
fn an_overflowing_shape_is_an_error_not_a_wrapped_count() {
    let err = Tensor::try_zeros([1 << 62, 16]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OutOfMemory {
                op: "zeros",
                bytes: None,
                ..
            }
        ),
        "{err}"
    );
    let message = panic_message(|| drop(Tensor::zeros([1 << 62, 16])));
    assert!(
        message.contains("zeros") && message.contains("[4611686018427387904, 16]"),
        "{message}"
    );
    // 16 values cannot fill a shape whose count wraps to 16.
    let err = Tensor::try_from_vec(vec![0.0f32; 16], [(1 << 62) + 1, 16]).unwrap_err();
    assert!(
        matches!(err, Error::OutOfMemory { op: "from_vec", .. }),
        "{err}"
    );
    let t = Tensor::from_vec(vec![0.0f32; 16], [16]);
    let err = t.try_reshape([(1usize << 62) + 1, 16]).unwrap_err();
    assert!(matches!(err, Error::ElementCount { .. }), "{err}");
    assert!(err.to_string().contains("overflows"), "{err}");
    // A count that fits but whose bytes do not.
    let err = Tensor::try_full_with([1 << 61, 2], 1.0, DType::F64).unwrap_err();
    assert!(
        matches!(err, Error::OutOfMemory { bytes: None, .. }),
        "{err}"
    );
}

#[test]
fn ops_whose_output_cannot_be_allocated_return_errors() {
    // A 4 TiB outer product.
    let col = Tensor::zeros([1 << 20, 1]);
    let row = Tensor::zeros([1, 1 << 20]);
    let err = col.try_matmul(&row).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OutOfMemory {
                op: "matmul",
                bytes: Some(4398046511104),
                ..
            }
        ),
        "{err}"
    );
    let err = col.try_add(&row).unwrap_err();
    assert!(matches!(err, Error::OutOfMemory { op: "add", .. }), "{err}");
    // A broadcast whose element count overflows.
    let a = Tensor::zeros([1, 1]).broadcast_to([1 << 32, 1]);
    let b = Tensor::zeros([1, 1]).broadcast_to([1, 1 << 32]);
    assert!(a.try_mul(&b).is_err());
    assert!(a.try_broadcast_to([1 << 32, 1 << 32]).is_err());
}

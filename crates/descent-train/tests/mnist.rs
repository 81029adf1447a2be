//! The 784-256-256-10 MLP trained one epoch on the real MNIST of the developers' shared folder
//! (`<repo>/../shared/data/mnist`, found from `CARGO_MANIFEST_DIR`: tests run in the crate's
//! folder) reaches above 95 % test accuracy. Absent, the test prints why and passes, except under
//! `CI=true`, where the data must be there.

use descent_data::{DataLoader, Normalizer, mnist};
use descent_nn::{Flatten, Linear, ReLU, Seeds, Sequential};
use descent_optim::{Adam, AdamConfig};
use descent_train::{Learner, Progress};
use std::path::PathBuf;

#[test]
fn one_epoch_of_the_mlp_on_mnist_reaches_95_percent() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist");
    if !dir.is_dir() {
        let reason = format!("{} is absent", dir.display());
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and {reason}"
        );
        eprintln!("skipped: {reason}");
        return;
    }
    let m = mnist(&dir).unwrap();
    let norm = Normalizer::per_channel(&m.train).unwrap();
    let (train, test) = (norm.apply(&m.train).unwrap(), norm.apply(&m.test).unwrap());
    let s = Seeds::new(0);
    let mut model = Sequential::new()
        .push(Flatten)
        .push(Linear::new(784, 256, true, &s.stream("1")))
        .push(ReLU)
        .push(Linear::new(256, 256, true, &s.stream("3")))
        .push(ReLU)
        .push(Linear::new(256, 10, true, &s.stream("5")));
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let history = Learner::new(&mut model, &mut opt)
        .validation(DataLoader::new(test, 1000).unwrap())
        .progress(Progress::Quiet)
        .fit(&DataLoader::new(train, 128).unwrap().shuffle(0))
        .unwrap();
    let accuracy = history.last().unwrap().val_accuracy.unwrap();
    assert!(accuracy > 0.95, "test accuracy {accuracy}");
}

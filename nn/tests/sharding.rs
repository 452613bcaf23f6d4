//! `Batches::sharded` (data-parallel training, issue #16): the shards of all ranks, put back
//! together in rank order, are the batches one process makes — the same images, augmented
//! the same way, and the same labels — for any number of ranks, also when the last batch is
//! shorter than the number of ranks.

use nn::data::batches::{Batches, Normalize};
use nn::data::synthetic;
use nn::data::transforms::Recipe;

#[test]
fn the_shards_of_all_ranks_make_up_the_batches_of_one_process() {
    let data = synthetic::generate(35, 3);
    let augment = Recipe::named("standard").unwrap().compose();
    // 35 images in batches of 8: the last batch has 3, fewer than 4 or 5 ranks.
    let whole: Vec<_> = Batches::<f32>::new(&data, 8, Normalize::MNIST)
        .unwrap()
        .shuffled(5, 2)
        .augmented(&augment, 5, 2)
        .unwrap()
        .collect();
    assert_eq!(whole.len(), 5);
    for size in 1..=5 {
        let shards: Vec<Vec<_>> = (0..size)
            .map(|rank| {
                Batches::<f32>::new(&data, 8, Normalize::MNIST)
                    .unwrap()
                    .shuffled(5, 2)
                    .augmented(&augment, 5, 2)
                    .unwrap()
                    .sharded(rank, size)
                    .collect()
            })
            .collect();
        for (i, batch) in whole.iter().enumerate() {
            let (mut labels, mut pixels) = (Vec::new(), Vec::new());
            let mut lengths = Vec::new();
            for rank_batches in &shards {
                let part = &rank_batches[i];
                assert_eq!(part.images.shape()[0], part.labels.len());
                labels.extend_from_slice(&part.labels);
                pixels.extend(part.images.to_vec());
                lengths.push(part.labels.len());
            }
            assert_eq!(labels, batch.labels, "{size} ranks, batch {i}: labels");
            assert!(pixels == batch.images.to_vec(), "{size} ranks, batch {i}: images");
            let (min, max) = (lengths.iter().min().unwrap(), lengths.iter().max().unwrap());
            assert!(
                max - min <= 1,
                "{size} ranks, batch {i}: shard lengths {lengths:?}"
            );
        }
    }
}

#[test]
fn stopping_after_ends_the_pass_after_that_many_batches_from_the_start_point() {
    let data = synthetic::generate(40, 1);
    let all: Vec<_> = Batches::<f32>::new(&data, 8, Normalize::UNIT)
        .unwrap()
        .shuffled(1, 0)
        .collect();
    let part: Vec<_> = Batches::<f32>::new(&data, 8, Normalize::UNIT)
        .unwrap()
        .shuffled(1, 0)
        .starting_at(1)
        .stopping_after(2)
        .collect();
    assert_eq!(part.len(), 2);
    assert_eq!(part[0].labels, all[1].labels);
    assert_eq!(part[1].labels, all[2].labels);
    let rest = Batches::<f32>::new(&data, 8, Normalize::UNIT)
        .unwrap()
        .starting_at(3)
        .stopping_after(9);
    assert_eq!(rest.count(), 2);
}

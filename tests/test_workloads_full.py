"""Full-tier workloads on tiny tfds datasets: loading, input pipelines, models, short trials.

No real dataset is needed. Two kinds of stand-in data:
- tiny datasets written to a temporary data directory by tfds's own builder machinery, under
  the real builders' names, versions and features (array_record files, no TensorFlow needed
  because images are handed over already PNG-encoded); `tfds.data_source` reads them exactly as
  it reads prepared real datasets;
- `tfds.testing.mock_data`, tfds's mocking of `data_source` with random examples.
"""

from __future__ import annotations

import dataclasses
import io

import jax
import numpy as np
import pytest
from PIL import Image

from bench import registry
from bench.protocol import Outcome, ProtocolSettings
from bench.trial.loop import run_trial
from workloads import _image_ops, _pipeline, _tfds, cifar10, imagenet, mnist, ogbg
from workloads._resnet import ResNetConfig
from workloads._vit import ViTConfig

tfds = pytest.importorskip("tensorflow_datasets")
tfds.disable_progress_bar()

TINY_RESNET = ResNetConfig(stage_sizes=(1, 1), block="basic", width=4, stem="cifar", num_classes=10)
TINY_RESNET_1000 = ResNetConfig(stage_sizes=(1,), block="basic", width=4, num_classes=1000)
TINY_VIT = ViTConfig(patch_size=8, width=16, depth=1, num_heads=2, mlp_dim=32, num_classes=1000)
TINY_GNN = ogbg.GNNConfig(latent_dim=8, hidden_dims=(8,), num_message_passing_steps=1)


def tiny_spec(spec, **changes):
    """Batch size 4 and an unreachable target (so that short trials run to their step limit)."""
    return dataclasses.replace(spec, batch_size=4, validation_target=2.0, **changes)


# ------------------------------------------------------------------------ fake datasets


def png(array: np.ndarray) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def build_fake_dataset(name: str, data_dir, splits: dict[str, list[dict]]) -> None:
    """Write `splits` as the array_record dataset `name` (builder[/config]) under `data_dir`."""
    from tensorflow_datasets.core import registered

    base, _, config = name.partition("/")
    real = tfds.builder_cls(base)
    with registered.skip_registration():

        class Fake(real):
            # tfds looks up a builder's source through its module; for a module inside a package
            # it needs `importlib_resources`, which tfds does not install. "__main__" skips that.
            __module__ = "__main__"

            def _split_generators(self, dl_manager):
                return {split: self._generate_examples(split) for split in splits}

            def _generate_examples(self, split):
                yield from enumerate(splits[split])

        Fake.name = real.name
    builder = Fake(data_dir=str(data_dir), config=config or None, file_format="array_record")
    builder.download_and_prepare()


@pytest.fixture(scope="session")
def fake_data_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    data_dir = tmp_path_factory.mktemp("tfds")

    def digits(n):
        return [
            {"image": png(rng.integers(0, 256, (28, 28, 1), np.uint8)[..., 0]), "label": i % 10}
            for i in range(n)
        ]

    build_fake_dataset("mnist", data_dir, {"train": digits(20), "test": digits(6)})

    def tiny_images(n):
        return [
            {"image": png(rng.integers(0, 256, (32, 32, 3), np.uint8)), "label": i % 10,
             "id": str(i)}
            for i in range(n)
        ]

    build_fake_dataset("cifar10", data_dir, {"train": tiny_images(20), "test": tiny_images(6)})

    def photos(n, solid=False):
        examples = []
        for i in range(n):
            height, width = (int(rng.integers(12, 40)) for _ in range(2))
            if solid:  # one colour per image: its evaluation crop must stay that colour
                pixels = np.broadcast_to(rng.integers(0, 256, 3, np.uint8), (height, width, 3))
            else:
                pixels = rng.integers(0, 256, (height, width, 3), np.uint8)
            image = png(np.ascontiguousarray(pixels))
            examples.append({"image": image, "label": 7 * i, "file_name": str(i)})
        return examples

    build_fake_dataset(
        "imagenet2012", data_dir, {"train": photos(10), "validation": photos(5, solid=True)}
    )
    build_fake_dataset("imagenet_v2/matched-frequency", data_dir, {"test": photos(3, solid=True)})

    def molecules(n):
        graphs = []
        for _ in range(n):
            nodes, edges = int(rng.integers(1, 7)), int(rng.integers(0, 8))
            labels = rng.integers(0, 2, 128).astype(np.float32)
            labels[rng.random(128) < 0.3] = np.nan
            graphs.append({
                "node_feat": rng.integers(0, 5, (nodes, 9)).astype(np.float32),
                "edge_feat": rng.integers(0, 3, (edges, 3)).astype(np.float32),
                "edge_index": rng.integers(0, nodes, (edges, 2)),
                "labels": labels,
                "num_nodes": np.array([nodes]),
                "num_edges": np.array([edges]),
            })
        return graphs

    build_fake_dataset(
        "ogbg_molpcba", data_dir,
        {"train": molecules(16), "validation": molecules(9), "test": molecules(5)},
    )
    return str(data_dir)


def raw_split(name, split, data_dir):
    source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    return [source[i] for i in range(len(source))]


def tiny_mnist(**kwargs):
    return mnist.make_workload(
        tiny_spec(mnist.MNIST_SPEC), "mnist", mnist.SmallCNNConfig(channels=(4,), dense=8),
        num_validation=6, eval_batch_size=4, **kwargs,
    )


def tiny_imagenet_data(**changes):
    fields = dict(image_size=16, num_workers=0, eval_threads=2, chunk_size=3, eval_batch_size=4)
    return dataclasses.replace(imagenet.RESNET_DATA, **{**fields, **changes})


def tiny_ogbg(**kwargs):
    return ogbg.OgbgWorkload(tiny_spec(ogbg.OGBG_SPEC), TINY_GNN, eval_batch_size=4, **kwargs)


@pytest.fixture(scope="module")
def tiny(fake_data_dir):
    """One loaded tiny workload per family, shared so that each model compiles once."""
    workloads = {
        "mnist": tiny_mnist(),
        "imagenet_resnet": imagenet.resnet_workload(
            tiny_spec(imagenet.IMAGENET_RESNET_SPEC), TINY_RESNET_1000, tiny_imagenet_data()
        ),
        "imagenet_vit": imagenet.vit_workload(
            tiny_spec(imagenet.IMAGENET_VIT_SPEC), TINY_VIT,
            tiny_imagenet_data(randaugment_layers=2, mixup_alpha=0.2),
        ),
        "ogbg": tiny_ogbg(),
    }
    for workload in workloads.values():
        workload.load(fake_data_dir)
    return workloads


# ------------------------------------------------------------------------ missing data


BUILDERS = {
    "mnist": "mnist", "fashion_mnist": "fashion_mnist", "cifar10": "cifar10",
    "imagenet": "imagenet2012", "imagenet_vit": "imagenet2012", "ogbg": "ogbg_molpcba",
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_missing_dataset_is_a_clear_one_line_error_and_nothing_is_downloaded(tmp_path, name):
    workload = registry.get_workload(name)
    empty = tmp_path / "tfds"
    empty.mkdir()
    with pytest.raises(_tfds.DatasetNotPreparedError) as caught:
        workload.load(str(empty))
    message = str(caught.value)
    builder = BUILDERS[name]
    assert isinstance(caught.value, ValueError)
    assert "\n" not in message
    assert f"tfds build {builder} --data_dir {empty} --file_format array_record" in message
    assert name in message
    if builder == "imagenet2012":
        assert "ILSVRC2012_img_train.tar" in message  # the manual download step
    assert list(empty.iterdir()) == []  # no download or preparation was attempted


def test_dataset_prepared_in_tfrecord_format_gets_its_own_diagnosis(fake_data_dir, tmp_path):
    import json
    import shutil

    shutil.copytree(f"{fake_data_dir}/mnist", tmp_path / "mnist")
    info_file = tmp_path / "mnist" / "3.0.1" / "dataset_info.json"
    info = json.loads(info_file.read_text())
    info["fileFormat"] = "tfrecord"  # what `tfds build` writes by default
    info_file.write_text(json.dumps(info))
    expected = "prepared as tfrecord, but reading without TensorFlow needs array_record"
    with pytest.raises(_tfds.DatasetNotPreparedError, match=expected):
        tiny_mnist().load(str(tmp_path))


def test_module_import_does_not_import_tfds():
    import subprocess
    import sys

    code = (
        "import sys, workloads.imagenet, workloads.mnist, workloads.cifar10, workloads.ogbg; "
        "print('tensorflow_datasets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------- in-memory images


def test_mnist_splits_normalisation_shuffling_and_padded_eval(fake_data_dir, tiny):
    workload = tiny["mnist"]
    raw = raw_split("mnist", "train", fake_data_dir)
    images = np.stack([ex["image"] for ex in raw]).astype(np.float64)
    expected = (images / 255.0 - 0.1307) / 0.3081  # AlgoPerf's MNIST normalisation
    train, validation = expected[:14], expected[14:]
    assert workload.num_train_examples == 14

    def positions(batch):
        """Which training image each batch image is (exactly one match each)."""
        distances = [np.abs(train - image).max(axis=(1, 2, 3)) for image in batch["inputs"]]
        found = [np.flatnonzero(distance < 1e-5) for distance in distances]
        assert all(len(match) == 1 for match in found)
        return [int(match[0]) for match in found]

    batches = workload.train_batches(4, seed=3)
    first_epoch = [next(batches) for _ in range(3)]  # 14 // 4 full batches, the rest dropped
    for batch in first_epoch:
        assert batch["inputs"].shape == (4, 28, 28, 1) and batch["inputs"].dtype == np.float32
        assert batch["targets"].shape == (4,) and batch["targets"].dtype == np.int32
    order = [position for batch in first_epoch for position in positions(batch)]
    assert len(set(order)) == 12  # no training image twice in an epoch

    assert positions(next(workload.train_batches(4, seed=3))) == order[:4]  # seeded
    assert positions(next(workload.train_batches(4, seed=4))) != order[:4]  # another order

    eval_batches = list(workload.eval_batches("validation"))
    assert [b["inputs"].shape[0] for b in eval_batches] == [4, 4]  # padded to a fixed size
    masks = np.concatenate([b["mask"] for b in eval_batches])
    np.testing.assert_array_equal(masks, [1] * 6 + [0] * 2)
    evaluated = np.concatenate([b["inputs"] for b in eval_batches])[:6]
    np.testing.assert_allclose(evaluated, validation, atol=1e-5)
    assert sum(len(b["targets"]) for b in workload.eval_batches("test")) == 8  # 6 padded to 8


@pytest.mark.parametrize("family", ["mnist", "imagenet_vit", "ogbg"])
def test_skipping_batches_gives_the_same_later_batches(tiny, family):
    workload = tiny[family]
    fresh = workload.train_batches(4, seed=2)
    for _ in range(3):
        next(fresh)
    expected = next(fresh)
    skipped = next(workload.train_batches(4, seed=2).skip(3))
    assert expected.keys() == skipped.keys()
    for key in expected:
        np.testing.assert_array_equal(skipped[key], expected[key])


def test_prefetch_keeps_order_and_hands_over_errors():
    def numbers():
        yield from ({"x": np.array([i])} for i in range(5))
        raise RuntimeError("pipeline broke")

    seen = []
    with pytest.raises(RuntimeError, match="pipeline broke"):
        for batch in _pipeline.prefetch(numbers(), depth=2):
            seen.append(int(batch["x"][0]))
    assert seen == [0, 1, 2, 3, 4]


def test_decoded_splits_are_cached_for_prepared_datasets_only(fake_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    source = tfds.data_source("mnist", split="test", data_dir=fake_data_dir, download=False)
    calls = []

    def read():
        calls.append(1)
        return {"x": np.arange(3)}

    for _ in range(2):
        arrays = _tfds.cached_arrays(source, "test", "demo", read)
        np.testing.assert_array_equal(arrays["x"], [0, 1, 2])
    assert len(calls) == 1 and len(list((tmp_path / "tfds").glob("mnist-3.0.1-test-*.npz"))) == 1
    _tfds.cached_arrays(source, "test", "demo-v2", read)  # another conversion, another entry
    assert len(calls) == 2
    with tfds.testing.mock_data(num_examples=2):  # not a prepared dataset: never cached
        mocked = tfds.data_source("mnist", split="test")
        _tfds.cached_arrays(mocked, "test", "demo", read)
        _tfds.cached_arrays(mocked, "test", "demo", read)
    assert len(calls) == 4


def test_eval_sums_ignore_padding(tiny):
    workload = tiny["mnist"]
    params, state = workload.init(jax.random.key(0))
    eval_sums = jax.jit(workload.eval_sums)
    batch = next(workload.eval_batches("validation"))
    half = {key: value.copy() for key, value in batch.items()}
    half["mask"][2:] = 0.0
    garbage = {key: value.copy() for key, value in half.items()}
    garbage["inputs"][2:] = 100.0  # masked rows must not matter
    garbage["targets"][2:] = 9 - garbage["targets"][2:]
    full_sums, half_sums, garbage_sums = (
        eval_sums(params, state, b) for b in (batch, half, garbage)
    )
    assert float(full_sums["count"]) == 4 and float(half_sums["count"]) == 2
    for key in ("loss", "accuracy"):
        assert float(garbage_sums[key]) == pytest.approx(float(half_sums[key]), rel=1e-6)
    assert float(half_sums["loss"]) < float(full_sums["loss"])


def test_cifar_crop_and_flip_matches_a_per_image_reference():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 32, 32, 3), np.uint8)
    out = cifar10.random_crop_and_flip(images, np.random.default_rng(5))
    draws = np.random.default_rng(5)  # the same draws, in the function's order
    tops, lefts, flips = draws.integers(0, 9, 6), draws.integers(0, 9, 6), draws.random(6) < 0.5
    for image, top, left, flip, got in zip(images, tops, lefts, flips, out):
        padded = np.zeros((40, 40, 3), np.uint8)
        padded[4:36, 4:36] = image
        crop = padded[top:top + 32, left:left + 32]
        np.testing.assert_array_equal(got, crop[:, ::-1] if flip else crop)


def test_cifar_pipeline(fake_data_dir):
    workload = cifar10.make_workload(
        tiny_spec(cifar10.CIFAR10_SPEC), TINY_RESNET, num_validation=4, eval_batch_size=4
    )
    workload.load(fake_data_dir)
    batch = next(workload.train_batches(4, seed=0))
    assert batch["inputs"].shape == (4, 32, 32, 3) and batch["inputs"].dtype == np.float32
    validation = next(workload.eval_batches("validation"))["inputs"]
    raw = np.stack([ex["image"] for ex in raw_split("cifar10", "train", fake_data_dir)[16:]])
    mean = np.array([0.49139968, 0.48215827, 0.44653124])
    std = np.array([0.24703233, 0.24348505, 0.26158768])
    np.testing.assert_allclose(validation, (raw / 255.0 - mean) / std, atol=1e-5)


def test_mock_data_feeds_the_pipeline(monkeypatch):
    """tfds.testing.mock_data: random examples with the real features; no files at all.

    In tensorflow-datasets 4.9.x the mock's batched read (`__getitems__`) is not bound to the
    data source and fails; it is repaired here so that the workload's batched reads work.
    """
    from tensorflow_datasets.testing import mocking

    monkeypatch.setattr(
        mocking, "_getitems", lambda keys, generator, serialized=False: [generator[k] for k in keys]
    )
    workload = tiny_mnist()
    tiny_imagenet = imagenet.resnet_workload(
        tiny_spec(imagenet.IMAGENET_RESNET_SPEC), TINY_RESNET_1000,
        dataclasses.replace(imagenet.RESNET_DATA, image_size=16, num_workers=0, eval_batch_size=4),
    )
    with tfds.testing.mock_data(num_examples=12):
        workload.load()
        tiny_imagenet.load()
        raw = tfds.data_source("mnist", split="train")
        images = np.stack([raw[i]["image"] for i in range(12)]).astype(np.float64)
    assert workload.num_train_examples == 6
    validation = next(workload.eval_batches("validation"))
    np.testing.assert_allclose(
        validation["inputs"], ((images[6:10] / 255.0 - 0.1307) / 0.3081), atol=1e-5
    )
    assert next(workload.train_batches(4, 0))["inputs"].shape == (4, 28, 28, 1)
    batch = next(tiny_imagenet.train_batches(4, 0))  # mock images have random sizes
    assert batch["inputs"].shape == (4, 16, 16, 3) and batch["targets"].max() < 1000


# ---------------------------------------------------------------------------- ImageNet


def test_imagenet_batches_do_not_depend_on_threads_and_eval_crops_are_normalised(fake_data_dir):
    """Training batches: in-process against one worker process; evaluation: threads."""
    spec = tiny_spec(imagenet.IMAGENET_RESNET_SPEC)
    serial = tiny_imagenet_data(num_workers=1, eval_threads=1, chunk_size=8)
    one = imagenet.resnet_workload(spec, TINY_RESNET_1000, serial)
    two = imagenet.resnet_workload(spec, TINY_RESNET_1000, tiny_imagenet_data())
    for workload in (one, two):
        workload.load(fake_data_dir)
    assert one.num_train_examples == 10
    a, b = one.train_batches(4, seed=1), two.train_batches(4, seed=1)
    for _ in range(3):  # crosses an epoch boundary (10 // 4 = 2 batches per epoch)
        first, second = next(a), next(b)
        assert first["inputs"].shape == (4, 16, 16, 3) and first["inputs"].dtype == np.float32
        np.testing.assert_array_equal(first["inputs"], second["inputs"])
        np.testing.assert_array_equal(first["targets"], second["targets"])
    assert set(first["targets"]) <= {7 * i for i in range(10)}

    raw = raw_split("imagenet2012", "validation", fake_data_dir)
    colours = np.stack([ex["image"][0, 0] for ex in raw]).astype(np.float64)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected = (colours / 255 - mean) / std
    batches = list(two.eval_batches("validation"))
    assert [b["mask"].sum() for b in batches] == [4, 1]
    inputs = np.concatenate([b["inputs"] for b in batches])[:5]
    expected = np.broadcast_to(expected[:, None, None, :], inputs.shape)
    np.testing.assert_allclose(inputs, expected, atol=0.02)
    labels = np.concatenate([b["targets"] for b in batches])[:5]
    np.testing.assert_array_equal(labels, [ex["label"] for ex in raw])
    assert sum(b["mask"].sum() for b in two.eval_batches("test")) == 3  # ImageNet-v2


def test_vit_batches_carry_mixup_weights(tiny):
    batch = next(tiny["imagenet_vit"].train_batches(4, seed=0))
    assert batch["inputs"].shape == (4, 16, 16, 3)
    weights = batch["mixup_weights"]
    assert weights.shape == (4,) and np.all(weights == weights[0]) and 0.0 <= weights[0] <= 1.0


def test_mixup_mixes_each_example_with_the_previous_one_in_inputs_and_loss():
    from workloads import _image_classification

    inputs = np.arange(3 * 2, dtype=np.float32).reshape(3, 2)
    w = 0.7
    mixed = np.asarray(_image_classification.mix(inputs, np.full(3, w, np.float32)))
    np.testing.assert_allclose(mixed[0], w * inputs[0] + (1 - w) * inputs[2], rtol=1e-6)
    np.testing.assert_allclose(mixed[1], w * inputs[1] + (1 - w) * inputs[0], rtol=1e-6)
    np.testing.assert_array_equal(_image_classification.mix_partner(np.array([0, 1, 2])), [2, 0, 1])


@pytest.mark.parametrize("name", _image_ops.RANDAUGMENT_OPS)
def test_randaugment_operations_keep_size_and_mode(name):
    pixels = np.random.default_rng(0).integers(0, 256, (20, 24, 3), np.uint8)
    image = Image.fromarray(pixels)
    out = _image_ops.apply_randaugment_op(image, name, 10, np.random.default_rng(1))
    assert out.size == (24, 20) and out.mode == "RGB"


def test_random_crop_boxes_respect_area_and_aspect_ranges():
    rng = np.random.default_rng(0)
    for _ in range(200):
        box = _image_ops.random_crop_box(300, 200, rng)
        if box is None:
            continue
        left, top, right, bottom = box
        assert 0 <= left < right <= 300 and 0 <= top < bottom <= 200
        w, h = right - left, bottom - top
        assert 0.07 * 60000 <= w * h <= 60000 and 0.7 < w / h < 1.4
    assert _image_ops.center_crop_box(300, 200, 0.875) == (63, 13, 238, 188)


# -------------------------------------------------------------------------------- ogbg


def test_ogbg_packing_doubles_edges_and_pads_into_a_padding_graph(fake_data_dir, tiny):
    workload = tiny["ogbg"]
    graphs = workload._split("train")
    raw = raw_split("ogbg_molpcba", "train", fake_data_dir)
    assert len(graphs) == 16 and graphs.num_nodes.tolist() == [len(ex["node_feat"]) for ex in raw]
    budget = ogbg.Budget.for_batch(graphs, 3)
    batch = ogbg.pack(graphs, np.array([2, 0]), budget)
    n2, n0 = graphs.num_nodes[2], graphs.num_nodes[0]
    e2, e0 = graphs.num_edges[2], graphs.num_edges[0]
    np.testing.assert_array_equal(batch["node_features"][:n2], raw[2]["node_feat"])
    np.testing.assert_array_equal(batch["node_features"][n2:n2 + n0], raw[0]["node_feat"])
    assert (batch["node_graph"][:n2] == 0).all() and (batch["node_graph"][n2:n2 + n0] == 1).all()
    assert (batch["node_graph"][n2 + n0:] == 3).all()  # padding graph = number of slots
    # Edges of graph 0 are shifted by graph 2's nodes and appear in both directions.
    forward = raw[0]["edge_index"] + n2
    real = e2 + e0
    np.testing.assert_array_equal(batch["senders"][e2:real], forward[:, 0])
    np.testing.assert_array_equal(batch["senders"][real + e2:2 * real], forward[:, 1])
    np.testing.assert_array_equal(batch["receivers"][real + e2:2 * real], forward[:, 0])
    assert (batch["senders"][2 * real:] == budget.nodes - 1).all()
    np.testing.assert_array_equal(batch["graph_mask"], [1, 1, 0])
    np.testing.assert_array_equal(batch["label_mask"][0], ~np.isnan(raw[2]["labels"]))
    assert batch["label_mask"][2].sum() == 0


def test_ogbg_graph_predictions_do_not_depend_on_the_rest_of_the_batch(tiny):
    workload = tiny["ogbg"]
    graphs = workload._split("validation")
    params, _ = workload.init(jax.random.key(0))
    budget = ogbg.Budget.for_batch(graphs, 4)
    logits = jax.jit(lambda params, batch: workload._logits(params, batch, train=False))
    alone = logits(params, ogbg.pack(graphs, np.array([5]), budget))
    together = logits(params, ogbg.pack(graphs, np.array([1, 5, 3]), budget))
    np.testing.assert_allclose(alone[0], together[1], rtol=1e-4, atol=1e-5)


def test_ogbg_batches_cover_each_graph_once_per_epoch(tiny):
    workload = tiny["ogbg"]
    batches = workload.train_batches(4, seed=0)
    counts = [next(batches)["graph_mask"].sum() for _ in range(4)]
    assert counts == [4, 4, 4, 4]  # the budget holds 4 of the largest graphs: never short
    eval_graphs = sum(b["graph_mask"].sum() for b in workload.eval_batches("validation"))
    assert eval_graphs == 9


def test_average_precision_by_hand():
    # Ranked: 0.9 (+), 0.8 (-), 0.8 (+), 0.3 (-). Thresholds 0.9, 0.8, 0.3 (the tie is one step):
    # precision 1, 2/3, 2/4 at recall 1/2, 1, 1 -> AP = 1/2 * 1 + 1/2 * 2/3 + 0 * 1/2 = 5/6.
    scores = np.array([0.3, 0.8, 0.9, 0.8])
    labels = np.array([0, 1, 1, 0])
    assert ogbg.average_precision(scores, labels) == pytest.approx(5 / 6)
    # All positives ranked first: AP 1. No positive: undefined.
    assert ogbg.average_precision(np.array([3.0, 2.0, 1.0]), np.array([1, 1, 0])) == 1.0
    assert np.isnan(ogbg.average_precision(np.array([1.0, 2.0]), np.array([0, 0])))


def test_mean_average_precision_skips_tasks_without_both_classes():
    labels = np.array([[1, 1, 0], [0, 1, 0], [1, 1, 1]], np.float32)
    mask = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 0]], np.float32)
    logits = np.array([[2.0, 0, 0], [1.0, 0, 0], [3.0, 0, 0]])
    # Task 0 is ranked perfectly (AP 1); task 1 has no negative; task 2 no present positive.
    assert ogbg.mean_average_precision(logits, labels, mask) == 1.0


# ----------------------------------------------------------------------- sizes, trials


def test_parameter_counts_of_the_standard_models():
    assert imagenet.IMAGENET_RESNET.num_parameters() == 25_557_032  # ResNet-50 (He et al.)
    assert cifar10.CIFAR10.num_parameters() == 11_173_962  # CIFAR ResNet-18
    assert imagenet.IMAGENET_VIT.num_parameters() == 22_122_472  # ViT-S/16, GAP + pre-logits
    assert registry.get_workload("imagenet").spec.validation_target == 0.77431


# One short trial per model family: CIFAR-10's ResNet shares the batch-norm path with ImageNet's.
@pytest.mark.parametrize("family", ["mnist", "imagenet_resnet", "imagenet_vit", "ogbg"])
def test_short_trial_trains_and_evaluates(tiny, family):
    workload = tiny[family]
    submission = registry.get_submission("nadamw")
    result = run_trial(
        workload, submission, dict(submission.default_hparams), seed=0,
        settings=ProtocolSettings(max_steps=3),
    )
    assert result.outcome == Outcome.BUDGET, result.message
    assert result.steps == 3
    metric = workload.spec.target_metric
    last = result.evals[-1]
    assert 0.0 <= last[f"validation/{metric}"] <= 1.0 and np.isfinite(last["validation/loss"])
    assert f"test/{metric}" in last
    assert all(np.isfinite(result.train_curve["loss"]))

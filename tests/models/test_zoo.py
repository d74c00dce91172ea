"""What the zoo's models teach, proved: framework differences that change numbers, recurrent
exports with dynamic lengths, two-input contracts, exported sub-models, freezing semantics."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from xdl import artifacts, backends, models, training, twins, verify
from xdl.parity import live
from xdl.spec import registry


def _twins(model, seed=0):
    spec = registry.get(model)
    k, t = backends.load("keras"), backends.load("torch")
    k.seed_everything(seed)
    t.seed_everything(seed)
    knet, tnet = models.build(spec, "keras"), models.build(spec, "torch")
    twins.port(model, "keras", knet, tnet)
    return spec, k, t, knet, tnet


def test_symmetric_padding_would_shift_a_stride_2_convolution():
    """TensorFlow's 'same' at stride 2 on an even size pads 0 before and 1 after; resnet's
    PyTorch twin spells that out. PyTorch's padding=1 (1 and 1) gives the same shape and other
    numbers: the ported model would be wrong everywhere."""
    spec, k, t, knet, tnet = _twins("resnet")
    x = spec.sample(np.random.default_rng(0), 3)
    exact = t.predict(tnet, spec, x)
    np.testing.assert_allclose(exact, k.predict(knet, spec, x), atol=1e-5)
    conv = tnet.block2.a
    conv.pad = nn.Identity()
    conv.conv.padding = (1, 1)  # the naive translation
    shifted = t.predict(tnet, spec, x)
    assert shifted.shape == exact.shape and np.abs(shifted - exact).max() > 1e-3


def test_pytorch_batchnorm_eps_default_gives_another_function():
    spec, k, t, knet, tnet = _twins("resnet")
    x = spec.sample(np.random.default_rng(1), 4)
    before = t.predict(tnet, spec, x)
    for module in tnet.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = 1e-5  # PyTorch's default; Keras's is 1e-3
    assert np.abs(t.predict(tnet, spec, x) - before).max() > 1e-5


def test_transposed_convolution_crop_matters():
    """Keras's Conv2DTranspose 'same' keeps the first 14 of PyTorch's 15 pixels; PyTorch's own
    padding=1, output_padding=1 keeps the last 14: same shape, shifted image."""
    spec, k, t, knet, tnet = _twins("autoencoder")
    x = spec.sample(np.random.default_rng(2), 2)
    np.testing.assert_allclose(t.predict(tnet, spec, x), k.predict(knet, spec, x), atol=1e-5)
    decoder = tnet.decoder
    code = torch.from_numpy(k.predict(k.part(knet, "encoder"), spec.part("encoder"), x))
    hidden = decoder.relu(decoder.dense(code)).view(-1, 7, 7, 32).permute(0, 3, 1, 2)
    ours = decoder.deconv1(hidden)[:, :, :14, :14]
    pytorch_same = nn.functional.conv_transpose2d(hidden, decoder.deconv1.weight, decoder.deconv1.bias,
                                                  stride=2, padding=1, output_padding=1)
    assert ours.shape == pytorch_same.shape
    assert (ours - pytorch_same).abs().max().item() > 1e-3


def test_lstm_second_bias_is_frozen_and_the_counts_agree():
    spec = registry.get("lstm")
    t = backends.load("torch")
    net = models.build(spec, "torch")
    assert not net.lstm.bias_hh_l0.requires_grad and net.lstm.bias_ih_l0.requires_grad
    assert t.count_params(net) == spec.expectations.param_count == backends.load("keras").count_params(
        models.build(spec, "keras"))
    # Keras starts the forget gate's bias at 1 (unit_forget_bias); so does the PyTorch twin
    forget = net.lstm.bias_ih_l0.detach().numpy()[32:64]
    assert (forget == 1).all()


def _frozen_bn_step(framework: str, tmp_path):
    """One epoch on the transfer model with everything but the head frozen; returns bn3's
    moving mean and the head's kernel, before and after."""
    import dataclasses

    from xdl import data as datasets

    spec = registry.get("transfer")
    spec = dataclasses.replace(spec, recipe=dataclasses.replace(spec.recipe, validation_split=0.0))
    fw = backends.load(framework)
    fw.seed_everything(0)
    net = models.build(spec, framework)
    fw.set_trainable(net, ["head"])
    d = datasets.load("shapes-b").subset(64, 8)
    d.x_val, d.y_val = d.x_val[:0], d.y_val[:0]  # no validation: one plain epoch
    before = fw.get_weights(net)
    fw.train(net, spec, d, epochs=1, checkpoint=tmp_path / "unused", show_progress=False)
    after = fw.get_weights(net)
    if framework == "keras":  # [gamma, beta, moving_mean, moving_variance]
        return before["bn3"][2], after["bn3"][2], before["head"][0], after["head"][0]
    return before["bn3.running_mean"], after["bn3.running_mean"], before["head.weight"], after["head.weight"]


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_a_frozen_batchnorm_keeps_its_statistics_in_both(framework, tmp_path):
    mean_before, mean_after, head_before, head_after = _frozen_bn_step(framework, tmp_path)
    np.testing.assert_array_equal(mean_before, mean_after)  # frozen: inference mode
    assert np.abs(head_after - head_before).max() > 0  # while the head trains


def test_requires_grad_alone_does_not_freeze_pytorch_batchnorm():
    """The difference xdl's loop removes: in train() mode a BatchNorm with no trainable
    parameter still moves its running statistics."""
    bn = nn.BatchNorm2d(4)
    for p in bn.parameters():
        p.requires_grad = False
    bn.train()
    before = bn.running_mean.clone()
    bn(torch.randn(8, 4, 5, 5) + 3)
    assert (bn.running_mean - before).abs().max() > 0.1


def test_recurrent_exports_record_their_ops(quick):
    ops = {f: json.loads((quick("lstm").out / "lstm" / f / "manifest.json").read_text())["ops"] for f in ("keras", "torch")}
    assert ops["keras"].get("LSTM") == 1 and ops["torch"].get("LSTM") == 1
    gru = json.loads((quick("gru").out / "gru" / "keras" / "manifest.json").read_text())
    # tf2onnx writes Keras's GRU as a Loop; xdl proves the body is a GRU and ships one GRU op,
    # keeping the Loop in an If for the inputs ORT's GRU kernel gets wrong (xdl/exporting/guard.py)
    assert gru["ops"].get("GRU") == 1 and gru["ops"].get("If") == 1
    assert "loop-as-gru" in gru["optimisation"]["applied"]
    torch_gru = json.loads((quick("gru").out / "gru" / "torch" / "manifest.json").read_text())["ops"]
    assert torch_gru.get("GRU") == 1


@pytest.mark.parametrize("model", ["lstm", "gru", "tagger"])
def test_dynamic_sequence_length_exports(quick, model):
    spec = registry.get(model)
    for framework in registry.FRAMEWORKS:
        proto = onnx.load(quick(model).out / model / framework / "model.onnx")
        dims = proto.graph.input[0].type.tensor_type.shape.dim
        assert [d.dim_param for d in dims[:2]] == ["batch", "seq"]
    checks = live.verify_live(model, out=quick(model).out, providers=("cpu",), batch_sizes=(1, 3))
    lengths = {c.shape[1] if model == "tagger" else None for c in checks}
    assert all(c.status == "pass" for c in checks), [c.detail for c in checks if c.status != "pass"]
    assert len(checks) == 2 * len(spec.expectations.seq_lengths) * 2
    if model == "tagger":
        assert lengths == set(spec.expectations.seq_lengths)


def test_recommender_takes_two_named_inputs(quick):
    for framework in registry.FRAMEWORKS:
        art = artifacts.load(quick("recommender").out / "recommender" / framework)
        sess = verify.session(art.model_bytes, "cpu")
        assert [i.name for i in sess.get_inputs()] == ["user", "item"]
        assert [i.type for i in sess.get_inputs()] == ["tensor(int64)"] * 2
        out = sess.run(None, {"user": np.array([0, 942]), "item": np.array([1681, 0])})[0]
        assert out.shape == (2, 1)


def test_similarity_reads_two_sentences_of_their_own_lengths_with_one_encoder(quick):
    """The two sentences' lengths are independent dims (seq_a, seq_b) in both exports, ONNX
    Runtime matches the native twin on sentences of different lengths, the head is symmetric, and
    the encoder's weights exist once (the PyTorch twin's state dict has one embedding)."""
    spec = registry.get("similarity")
    rng = np.random.default_rng(0)
    a, b = spec.contract.inputs[0].sample(rng, 3, 5), spec.contract.inputs[1].sample(rng, 3, 11)
    for framework in registry.FRAMEWORKS:
        art = artifacts.load(quick("similarity").out / "similarity" / framework)
        dims = [[d.dim_param for d in i.type.tensor_type.shape.dim] for i in onnx.load_from_string(art.model_bytes).graph.input]
        assert dims == [["batch", "seq_a"], ["batch", "seq_b"]]
        sess = verify.session(art.model_bytes, "cpu")
        got, swapped = sess.run(None, {"a": a, "b": b})[0], sess.run(None, {"a": b, "b": a})[0]
        fw = backends.load(framework)
        net = models.build(spec, framework)
        fw.load_weights(net, training.run_dir(quick("similarity").runs, "similarity", framework) / fw.WEIGHTS_FILE)
        native = fw.run(fw.deployable(net, spec), [a, b])["output_0"]
        np.testing.assert_allclose(got, native, atol=1e-6)
        np.testing.assert_allclose(swapped, got, atol=1e-6)
    tnet = models.build(spec, "torch")
    assert [k for k in tnet.state_dict() if "embedding" in k] == ["encoder.embedding.weight"]


def test_dqn_exported_policy_plays_the_native_twins_episodes(quick):
    """Each dqn export records the deployment check: ONNX Runtime's policy played the 100 scoring
    episodes with the same returns as the native twin, and the run's metric is that mean return."""
    for framework in registry.FRAMEWORKS:
        art = artifacts.load(quick("dqn").out / "dqn" / framework)
        check = art.manifest.policy_check
        assert check["episodes"] == 100 and check["returns_differ"] == 0
        assert check["native_mean_return"] == check["onnx_mean_return"] == quick("dqn").metrics["dqn", framework]["test_mean_return"]
        assert check["steps"] == round(100 * check["native_mean_return"])  # one step per reward point


def test_xdl_export_prints_the_policy_check(quick, tmp_path):
    """`xdl export dqn` tells the engineer what the manifest records: the returns, and how many
    actions the exported policy chose otherwise than the native twin."""
    from xdl.exporting import policy

    r = subprocess.run([sys.executable, "-m", "xdl", "export", "dqn", "--framework", "torch", "--runs",
                        str(quick("dqn", "torch").runs), "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    check = artifacts.read_manifest(tmp_path / "dqn" / "torch").policy_check
    line = r.stdout.splitlines()[-1]
    assert line == f"  {policy.summary(check)}"
    assert f"{check['actions_differ']:,} of {check['steps']:,} actions differ" in line


def test_dqn_policy_check_fails_for_a_policy_that_plays_otherwise():
    """The check is no formality: a Q-network exported from other weights than the twin it is
    compared with plays other episodes, and export stops with a parity failure (exit 1)."""
    from xdl.errors import ParityError
    from xdl.exporting import policy, to_onnx

    spec, fw = registry.get("dqn"), backends.load("torch")
    fw.seed_everything(0)
    native = models.build(spec, "torch")
    fw.seed_everything(1)
    other = to_onnx(spec, "torch", models.build(spec, "torch"))
    with pytest.raises(ParityError, match="earned other returns") as caught:
        policy.check(spec, fw, native, other)
    assert caught.value.exit_code == 1


def test_gan_parts_compose_to_the_whole_and_the_generator_is_scored_on_its_images(quick):
    """The generator's images fed to the discriminator give the whole graph's P(real); the run's
    Frechet distance is the one of the exported generator's images for the test split's noise."""
    from xdl.data import for_model
    from xdl.spec import tasks

    spec = registry.get("gan")
    data = for_model.load(spec, "digits", None, quick=True)
    for framework in registry.FRAMEWORKS:
        folder = quick("gan").out / "gan"
        whole, generator, discriminator = (artifacts.load(folder / f) for f in (framework, f"{framework}-generator",
                                                                                f"{framework}-discriminator"))
        noise = whole.inputs["noise"]
        images = verify.session(generator.model_bytes, "cpu").run(None, {"noise": noise})[0]
        assert images.shape == (len(noise), 1, 28, 28) and 0 <= images.min() and images.max() <= 1
        judged = verify.session(discriminator.model_bytes, "cpu").run(None, {"image": images})[0]
        np.testing.assert_allclose(judged, whole.outputs["prob_real"], atol=1e-5)
        test_images = verify.session(generator.model_bytes, "cpu").run(None, {"noise": data.x_test})[0]
        fid = tasks.frechet_distance(test_images.transpose(0, 2, 3, 1), data.y_test)
        assert fid == pytest.approx(quick("gan").metrics["gan", framework]["test_frechet_distance"], rel=1e-3)


def test_frechet_distance_measures_likeness_and_variety():
    from xdl.data import digits
    from xdl.spec import tasks

    x = digits.load()[0]
    real, other = x[:500], x[500:1000]
    assert tasks.frechet_distance(real, real) < 1e-6
    assert tasks.frechet_distance(other, real) < 1.0  # other real digits: close
    one_digit = np.repeat(real[:1], 500, axis=0) + np.random.default_rng(0).normal(0, 1e-3, real.shape)
    assert tasks.frechet_distance(one_digit, real) > 10  # no variety: far
    assert tasks.frechet_distance(np.clip(other + 0.3, 0, 1), real) > 3  # washed out: far


def test_autoencoder_parts_compose_to_the_whole(quick):
    for framework in registry.FRAMEWORKS:
        folder = quick("autoencoder").out / "autoencoder"
        whole, encoder, decoder = (artifacts.load(folder / f) for f in (framework, f"{framework}-encoder",
                                                                         f"{framework}-decoder"))
        assert encoder.manifest.part == "encoder" and decoder.manifest.part == "decoder"
        x = whole.inputs["x"]
        codes = verify.session(encoder.model_bytes, "cpu").run(None, {"x": x})[0]
        images = verify.session(decoder.model_bytes, "cpu").run(None, {"code": codes})[0]
        np.testing.assert_allclose(images, whole.outputs["reconstruction"], atol=1e-5)
        # the decoder alone is a generator: any code in, an image in [0, 1] out
        fresh = np.random.default_rng(0).normal(size=(3, 16)).astype(np.float32)
        generated = verify.session(decoder.model_bytes, "cpu").run(None, {"code": fresh})[0]
        assert generated.shape == (3, 1, 28, 28) and 0 <= generated.min() and generated.max() <= 1


def test_transfer_history_names_its_phases(quick):
    for framework in registry.FRAMEWORKS:
        m = json.loads((training.run_dir(quick("transfer").runs, "transfer", framework) / "metrics.json").read_text())
        epochs = registry.get("transfer").recipe.quick_epochs
        assert m["history"]["phase"] == [p for p in ("pretrain", "head", "finetune") for _ in range(epochs)]

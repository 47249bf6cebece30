"""The assembled model: gradients go where the paper says, and nowhere else."""

import pytest
import torch

from ehmam.masking.frames import MaskingConfig
from ehmam.models import EhmamConfig, EhmamModel, tiny_config


def tiny_model(**overrides):
    torch.manual_seed(0)
    return EhmamModel(tiny_config(**overrides))


def batch(size=2, samples=8_000):
    return torch.randn(size, samples, generator=torch.Generator().manual_seed(1))


def test_no_gradient_reaches_the_teacher_and_the_student_trains():
    model = tiny_model()
    out = model(batch(), progress=0.5, generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert not out.teacher_predicted_losses.requires_grad
    for name, p in model.named_parameters():
        if not name.startswith("teacher."):
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{name} got no gradient"


def test_the_ranking_loss_is_what_trains_the_loss_predictor():
    grads = {}
    for weight in (0.0, 0.05):
        model = tiny_model(ranking_loss_weight=weight)
        out = model(batch(), progress=0.5, generator=torch.Generator().manual_seed(0))
        out.loss.backward()
        grads[weight] = sum(float(p.grad.abs().sum()) for p in model.loss_predictor.parameters() if p.grad is not None)
        assert out.loss.item() == pytest.approx(
            out.losses["reconstruction"].item() + weight * out.losses["ranking"].item(), rel=1e-6
        )
    assert grads[0.0] == 0.0
    assert grads[0.05] > 0.0


def test_student_cannot_see_masked_frames():
    model = tiny_model().eval()
    features = torch.randn(2, 30, 64)
    mask = torch.zeros(2, 30, dtype=torch.bool)
    mask[:, 10:20] = True
    prediction, predicted_losses = model.student_pass(features, None, mask)
    changed = features.clone()
    changed[mask] = torch.randn(int(mask.sum()), 64) * 10
    prediction2, predicted_losses2 = model.student_pass(changed, None, mask)
    assert torch.allclose(prediction, prediction2, atol=1e-5)
    assert torch.allclose(predicted_losses, predicted_losses2, atol=1e-5)


def test_teacher_starts_as_the_student_and_follows_by_ema():
    model = tiny_model()
    student = {**{f"encoder.{k}": v for k, v in model.encoder.state_dict().items()},
               **{f"loss_predictor.{k}": v for k, v in model.loss_predictor.state_dict().items()}}
    teacher = model.teacher.model.state_dict()
    assert teacher.keys() == student.keys()
    assert all(torch.equal(teacher[k], student[k]) for k in teacher)
    before = {k: v.clone() for k, v in teacher.items()}
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)
    decay = model.update_teacher(0)
    assert decay == pytest.approx(0.99)  # the tiny preset's decay_start
    name = "encoder.layers.0.fc1.weight"
    expected = 0.99 * before[name] + 0.01 * model.encoder.state_dict()["layers.0.fc1.weight"]
    assert torch.allclose(model.teacher.model.state_dict()[name], expected, atol=1e-6)


def test_clones_share_targets_but_get_different_masks():
    model = tiny_model(clone_batch=3)
    out = model(batch(2), progress=0.0, generator=torch.Generator().manual_seed(0))
    mask = out.mask.mask
    assert mask.shape[0] == 6
    assert not torch.equal(mask[0], mask[1]) and not torch.equal(mask[1], mask[2])
    assert torch.equal(out.teacher_predicted_losses[0], out.teacher_predicted_losses[2])
    assert out.sample_size == int(mask.sum())


def test_padded_batches_never_mask_padding():
    model = tiny_model()
    source = batch(2, 12_000)
    padding = torch.zeros(2, 12_000, dtype=torch.bool)
    padding[1, 7_000:] = True
    source[1, 7_000:] = 0
    out = model(source, padding, progress=1.0, generator=torch.Generator().manual_seed(0))
    frame_padding = model.frontend.frame_padding_mask(padding, out.mask.mask.shape[1]).repeat_interleave(2, 0)
    assert frame_padding.any()
    assert not (out.mask.mask & frame_padding).any()
    assert torch.isfinite(out.loss)


def test_random_masking_switch():
    model = tiny_model(masking=MaskingConfig(masking="random"))
    out = model(batch(), progress=1.0, generator=torch.Generator().manual_seed(0))
    assert not out.mask.selective.any()
    model = tiny_model()
    out = model(batch(), progress=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.mask.selective, out.mask.mask)


def test_checkpoint_round_trip_includes_the_teacher():
    model = tiny_model()
    model.update_teacher(0)
    clone = EhmamModel(tiny_config())
    clone.load_state_dict(model.state_dict())
    args = dict(progress=0.5)
    a = model.eval()(batch(), generator=torch.Generator().manual_seed(0), **args)
    b = clone.eval()(batch(), generator=torch.Generator().manual_seed(0), **args)
    assert torch.equal(a.loss, b.loss)
    with pytest.raises(RuntimeError, match="size mismatch"):
        EhmamModel(tiny_config(encoder=EhmamConfig().encoder)).load_state_dict(model.state_dict())


def test_base_model_has_the_papers_size():
    model = EhmamModel(EhmamConfig())
    count = sum(p.numel() for p in model.student_parameters())
    print(f"EH-MAM base: {count / 1e6:.2f}M trainable parameters (paper: 94.40M)")
    assert abs(count - 94.4e6) / 94.4e6 < 0.01
    teacher = sum(p.numel() for p in model.teacher.parameters())
    assert teacher == sum(p.numel() for p in model.encoder.parameters()) + sum(
        p.numel() for p in model.loss_predictor.parameters()
    )


def test_half_precision_student_with_float32_teacher():
    model = tiny_model().to(torch.bfloat16)
    assert model.teacher.dtype == torch.float32
    assert model.encoder.layers[0].fc1.weight.dtype == torch.bfloat16
    out = model(batch().to(torch.bfloat16), progress=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    model.update_teacher(10)


def test_teacher_targets_ignore_padding():
    model = tiny_model()
    source = batch(2, 12_000)
    padding = torch.zeros(2, 12_000, dtype=torch.bool)
    padding[0, 7_000:] = True
    features, frame_padding = model.frontend(source, padding)
    targets, predicted = model.teacher_pass(features, frame_padding)
    alone_features, _ = model.frontend(source[:1, :7_000])
    alone_targets, alone_predicted = model.teacher_pass(alone_features, None)
    valid = alone_targets.shape[1]
    assert frame_padding[0, valid:].all() and not frame_padding[0, :valid].any()
    assert torch.allclose(targets[0, :valid], alone_targets[0], atol=1e-4)
    assert torch.allclose(predicted[0, :valid], alone_predicted[0], atol=1e-4)
    assert not targets.requires_grad


def test_encode_with_a_frame_mask_feeds_the_mask_embedding_in_place_of_those_frames():
    torch.manual_seed(0)
    model = EhmamModel(tiny_config()).eval()
    source = torch.randn(2, 8000)
    seen = []
    hook = model.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    features, _ = model.encode(source)
    frame_mask = torch.zeros(features.shape[:2], dtype=torch.bool)
    frame_mask[0, 3:7] = True
    _, out = model.encode(source, frame_mask=frame_mask)
    hook.remove()
    plain, masked = seen
    torch.testing.assert_close(masked[frame_mask], model.mask_embedding.expand(4, -1))
    torch.testing.assert_close(masked[~frame_mask], plain[~frame_mask])
    with pytest.raises(ValueError, match="frame_mask of shape"):
        model.encode(source, frame_mask=frame_mask[:, 1:])


@pytest.mark.parametrize("clones", [0, -1])
def test_a_batch_without_student_copies_is_refused_naming_the_key(clones):
    with pytest.raises(ValueError, match=rf"clone_batch={clones}: .*model\.clone_batch"):
        EhmamModel(tiny_config(clone_batch=clones))

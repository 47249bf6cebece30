import copy

import pytest
import torch
from torch import nn

from ehmam.ema import EmaConfig, EmaTeacher, ema_decay


def test_decay_schedule_endpoints_and_linear_middle():
    cfg = EmaConfig()  # paper Table 5
    assert ema_decay(0, cfg) == pytest.approx(0.999)
    assert ema_decay(37_500, cfg) == pytest.approx((0.999 + 0.99999) / 2)
    assert ema_decay(75_000, cfg) == pytest.approx(0.99999)
    assert ema_decay(400_000, cfg) == pytest.approx(0.99999)


def test_update_is_the_exponential_moving_average():
    torch.manual_seed(0)
    student = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    teacher = EmaTeacher(student)
    before = copy.deepcopy(teacher.model.state_dict())
    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p))
    teacher.update(student, decay=0.9)
    for name, p in student.named_parameters():
        expected = 0.9 * before[name] + 0.1 * p
        assert torch.allclose(teacher.model.state_dict()[name], expected, atol=1e-6)


def test_teacher_stays_frozen_and_in_eval_mode():
    student = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    teacher = EmaTeacher(student)
    teacher.train()
    assert not teacher.model.training
    assert not any(p.requires_grad for p in teacher.parameters())
    with pytest.raises(ValueError, match="same parameters"):
        teacher.update(nn.Linear(3, 3), 0.9)


def test_teacher_stays_float32_so_tiny_updates_are_not_rounded_away():
    student = nn.Linear(4, 4)
    teacher = EmaTeacher(student)
    student.to(torch.bfloat16)
    teacher.to(torch.bfloat16)
    assert teacher.dtype == torch.float32
    before = teacher.model.weight.clone()
    with torch.no_grad():
        student.weight.add_(1.0)
    teacher.update(student, decay=0.99999)
    moved = teacher.model.weight - before
    assert torch.allclose(moved, (student.weight.float() - before) * 1e-5, rtol=1e-2)


def test_a_vit_target_encoder_is_called_without_gradients_and_follows_the_student():
    from ehmam.models.encoders.vit import ViTConfig, ViTEncoder

    torch.manual_seed(0)
    student = ViTEncoder(ViTConfig(embed_dim=16, depth=1, heads=2, patch_size=[4, 4]))
    teacher = EmaTeacher(student)
    images, visible = torch.randn(2, 1, 8, 8), torch.tensor([[0, 3], [1, 2]])
    out = teacher(images, visible)
    assert not out.hidden.requires_grad and not teacher.model.training
    before = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p))
    teacher.update(student, decay=0.75)
    for name, p in student.named_parameters():
        assert torch.allclose(teacher.model.state_dict()[name], 0.75 * before[name] + 0.25 * p, atol=1e-6)


def test_update_reads_through_ddp_and_compile_wrappers():
    student = nn.Linear(3, 3)
    teacher = EmaTeacher(student)
    wrapper = nn.Module()
    wrapper.module = student  # what DistributedDataParallel looks like from outside
    with torch.no_grad():
        student.weight.fill_(1.0)
    teacher.update(wrapper, decay=0.0)
    assert torch.equal(teacher.model.weight, student.weight)


def test_a_teacher_of_several_parts_is_called_part_by_part():
    teacher = EmaTeacher(nn.ModuleDict({"encoder": nn.Linear(2, 2)}))
    with pytest.raises(RuntimeError, match=r"model\[name\]"):
        teacher(torch.randn(1, 2))


def test_mismatched_students_are_named_and_bad_decays_refused():
    teacher = EmaTeacher(nn.Sequential(nn.Linear(3, 3)))
    with pytest.raises(ValueError, match=r"teacher only: \['0.bias', '0.weight'\]"):
        teacher.update(nn.Sequential(nn.Identity(), nn.Linear(3, 3)), 0.9)
    with pytest.raises(ValueError, match="decay_end"):
        EmaConfig(decay_end=1.5)
    # JEPA's schedule ends at 1.0: the teacher stops moving
    assert ema_decay(10, EmaConfig(decay_start=0.996, decay_end=1.0, anneal_updates=10)) == 1.0

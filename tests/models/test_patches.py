import math

import pytest
import torch

from ehmam.models.patches import PatchEmbed, patch_grid, patchify, sincos_1d, sincos_2d, unpatchify


@pytest.mark.parametrize("patch, channels", [((16, 16), 1), ((80, 2), 1), ((4, 8), 3)])
def test_patchify_unpatchify_round_trip(patch, channels):
    images = torch.randn(2, channels, 80 if patch[0] == 80 else 32, 48)
    patches = patchify(images, patch)
    grid = patch_grid(images.shape[-2:], patch)
    assert patches.shape == (2, grid[0] * grid[1], patch[0] * patch[1] * channels)
    assert torch.equal(unpatchify(patches, grid, patch, channels), images)


def test_patch_order_is_row_major_over_frequency_rows_and_time_columns():
    # brute force: patch n = row * columns + col holds image[rows of row, columns of col]
    images = torch.randn(1, 2, 32, 48)
    ph, pw = 16, 8
    patches = patchify(images, (ph, pw))
    cols = 48 // pw
    for row in range(32 // ph):
        for col in range(cols):
            block = images[0, :, row * ph:(row + 1) * ph, col * pw:(col + 1) * pw]
            # MAE's order inside a patch: pixel rows, pixel columns, channels last
            assert torch.equal(patches[0, row * cols + col], block.permute(1, 2, 0).flatten())


def test_patch_embed_equals_a_linear_map_of_each_flattened_patch():
    torch.manual_seed(0)
    embed = PatchEmbed((80, 2), in_channels=1, embed_dim=24)
    images = torch.randn(2, 1, 80, 20)
    tokens = embed(images)
    assert embed.grid((80, 20)) == (1, 10)
    weight = embed.proj.weight.reshape(24, -1)  # conv kernel flattened in the same pixel order
    expected = patchify(images, (80, 2)) @ weight.T + embed.proj.bias
    assert torch.allclose(tokens, expected, atol=1e-5)


def test_sincos_matches_the_closed_form():
    dim, grid = 16, (3, 5)
    table = sincos_2d(dim, grid, cls_token=True)
    assert table.shape == (1 + 15, dim)
    assert torch.equal(table[0], torch.zeros(dim))
    quarter = dim // 4
    for row in range(grid[0]):
        for col in range(grid[1]):
            emb = table[1 + row * grid[1] + col]
            for i in range(quarter):
                w = 1.0 / 10000 ** (i / quarter)
                # first half: the column (time) index, second half: the row (frequency) index
                assert emb[i].item() == pytest.approx(math.sin(col * w), abs=1e-6)
                assert emb[quarter + i].item() == pytest.approx(math.cos(col * w), abs=1e-6)
                assert emb[2 * quarter + i].item() == pytest.approx(math.sin(row * w), abs=1e-6)
                assert emb[3 * quarter + i].item() == pytest.approx(math.cos(row * w), abs=1e-6)


def test_sincos_of_a_shorter_grid_is_the_first_columns_of_a_longer_one():
    long, short = sincos_2d(32, (5, 50)), sincos_2d(32, (5, 30))
    assert torch.allclose(long.view(5, 50, 32)[:, :30], short.view(5, 30, 32))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="whole number"):
        patchify(torch.randn(1, 1, 30, 32), 16)
    with pytest.raises(ValueError, match="no 16 x 16 patch"):
        patch_grid((8, 100), (16, 16))
    with pytest.raises(ValueError, match="multiple of 4"):
        sincos_2d(18, (2, 2))
    with pytest.raises(ValueError, match="do not make"):
        unpatchify(torch.randn(1, 5, 256), (2, 2), 16)
    with pytest.raises(ValueError, match="even"):
        sincos_1d(3, torch.arange(4))

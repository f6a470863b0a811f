"""Model tests run tiny tensors: one intra-op thread (two make them ~10x slower on a shared CPU)."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

#!/usr/bin/python3
"""make_fixture.py: the small ONNX model the test suite imports.

    /usr/bin/python3 tools/onnx/make_fixture.py [OUT_DIR]

Writes OUT_DIR/tiny_net.onnx (default test/fixtures/onnx/), a 3 x 32 x 32
network of the block types real backbones use: a strided stem with batch
norm, a residual block, a depthwise convolution with squeeze-excitation
(ReduceMean, Sigmoid, Mul), HardSwish, ReLU6 (Clip), a max pool, the
x.reshape(x.size(0), -1) flatten that exports as Shape/Gather/Unsqueeze/
Concat/Reshape, and a linear head; plus tiny_net.input.f32 (two images,
float32, N x C x H x W) and tiny_net.output.f32 (torch's 16-value outputs),
so the C tests check the engine against torch without Python.  Seeded:
re-running gives the same files on the same torch build.
"""
import os
import sys

import torch
import torch.nn as nn


class SE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // 4, 1)
        self.fc2 = nn.Conv2d(c // 4, c, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.res = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                 nn.Conv2d(16, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16))
        self.dw = nn.Sequential(nn.Conv2d(16, 32, 1), nn.Hardswish(),
                                nn.Conv2d(32, 32, 5, 2, 2, groups=32), nn.BatchNorm2d(32), nn.ReLU6())
        self.se = SE(32)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(32 * 4 * 4, 16)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.res(x))
        x = self.se(self.dw(x))
        x = self.pool(x)
        return self.head(x.reshape(x.size(0), -1))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "test", "fixtures", "onnx")
    torch.manual_seed(7)
    net = TinyNet().eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    x = torch.randn(2, 3, 32, 32)
    torch.onnx.export(net, x[:1], os.path.join(out, "tiny_net.onnx"), opset_version=17,
                      input_names=["input"], output_names=["embedding"],
                      dynamic_axes={"input": {0: "batch"}, "embedding": {0: "batch"}},
                      do_constant_folding=True)
    with torch.no_grad():
        y = net(x)
    x.numpy().astype("<f4").tofile(os.path.join(out, "tiny_net.input.f32"))
    y.numpy().astype("<f4").tofile(os.path.join(out, "tiny_net.output.f32"))


if __name__ == "__main__":
    main()

"""Shape-only ImageNet networks for hardware-only studies: ResNet-18, ResNet-50 and
MobileNetV2 at 224x224, written here (no torchvision) with torchvision's module names,
so ``layer1.0.conv1`` or ``features.2.conv.1.0`` name the same layers as there.

They have no data (``train``/``val`` are ``None``): the search prices them with the
hardware models only. MACs at 224x224, batch 1: ResNet-18 1.814 G, ResNet-50 4.09 G
(v1.5: stride on the 3x3 convolution), MobileNetV2 0.30 G.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..errors import UserError
from .bundle import WorkloadBundle


# --- ResNet ---------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ImageNet ResNet (He et al., 2016), torchvision layout."""

    def __init__(self, block: type, layers: tuple[int, ...], num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block: type, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# --- MobileNetV2 ------------------------------------------------------------------------------

class ConvBNReLU(nn.Sequential):
    def __init__(self, inp: int, oup: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(nn.Conv2d(inp, oup, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(oup), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(inp, hidden, kernel=1))
        layers += [ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),  # depthwise
                   nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al., 2018), width 1.0, torchvision layout."""

    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        inp, last = 32, 1280
        features: list[nn.Module] = [ConvBNReLU(3, inp, stride=2)]
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                features.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        features.append(ConvBNReLU(inp, last, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


# --- workloads --------------------------------------------------------------------------------

def _shape_only(name: str, factory, description: str, image_size: int, num_classes: int) -> WorkloadBundle:
    if isinstance(image_size, bool) or int(image_size) < 32:
        raise UserError(f"image_size: must be an integer >= 32, got {image_size!r}")
    if isinstance(num_classes, bool) or int(num_classes) < 1:
        raise UserError(f"num_classes: must be a positive integer, got {num_classes!r}")
    size, classes = int(image_size), int(num_classes)
    return WorkloadBundle(
        name=name, model_factory=lambda: factory(classes), example_input=torch.zeros(1, 3, size, size),
        num_classes=classes, description=description, data_factory=None,
        options={"image_size": image_size, "num_classes": num_classes}, origin="built-in",
    )


def resnet18(image_size: int = 224, num_classes: int = 1000) -> WorkloadBundle:
    """ResNet-18 at 224x224, shape only (hardware-only studies; 1.81 GMACs)."""
    return _shape_only("resnet18", lambda c: ResNet(BasicBlock, (2, 2, 2, 2), c),
                       "ResNet-18 at 224x224, shape only (1.81 GMACs)", image_size, num_classes)


def resnet50(image_size: int = 224, num_classes: int = 1000) -> WorkloadBundle:
    """ResNet-50 (v1.5) at 224x224, shape only (hardware-only studies; 4.09 GMACs)."""
    return _shape_only("resnet50", lambda c: ResNet(Bottleneck, (3, 4, 6, 3), c),
                       "ResNet-50 v1.5 at 224x224, shape only (4.09 GMACs)", image_size, num_classes)


def mobilenetv2(image_size: int = 224, num_classes: int = 1000) -> WorkloadBundle:
    """MobileNetV2 (width 1.0) at 224x224, shape only (hardware-only studies; 0.30 GMACs)."""
    return _shape_only("mobilenetv2", MobileNetV2,
                       "MobileNetV2 1.0 at 224x224, shape only (0.30 GMACs)", image_size, num_classes)

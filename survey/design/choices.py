"""The choices of a sample design (mode, method, allocation) with their Chinese names: light,
so the command line can offer them without importing the design service."""

from __future__ import annotations

MODES: dict[str, str] = {"web": "手机网页（短信邀请）", "phone": "电话调查（CATI）"}
METHODS: dict[str, str] = {
    "srswor": "分层简单随机抽样（不放回）",
    "systematic": "分层系统抽样（按单位代码排序，隐含分层）",
    "numbers": "号段内随机生成号码",
}
ALLOCATIONS: dict[str, str] = {
    "proportional": "按比例分配",
    "equal": "等额分配",
    "power": "幂分配（Bankier，q = 0.5）",
    "compromise": "各层最低样本量 + 余量按比例",
}

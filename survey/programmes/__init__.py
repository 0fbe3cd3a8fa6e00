"""测评方案 (programmes): a region, its instrument per mode and its versioned ranking policy.

``survey.programmes.service`` owns the ``programme`` and ``policy_version`` tables: creating a
programme, changing its name, instruments and policy, and answering which policy and which
instrument a wave uses. The CLI (``survey programme …``) and the admin page 测评方案 call it.
"""

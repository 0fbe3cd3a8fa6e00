"""Scripts written beside a microdata export that redo the wave's published figures.

``r_script``: R ``survey`` — reads the export (``.sav``/``.dta`` with haven, ``.csv`` with base R)
and the raking margins, declares the design (PSU = interview, strata = the sample's strata), redoes
the calibration from ``base_weight`` with ``rake()`` (and the platform's trimming of the adjustment
factors, re-raking until both hold), checks the result against the exported final ``weight``, then
computes every published index per unit with its SE and 95% CI exactly as the platform does:
shares with ``svyciprop(method = "logit")`` (each domain's df), scores with ``svymean`` and a t
interval on the design's df, the composite satisfaction as ``svycontrast`` of department ratios.
It writes ``<export>-r-results.csv`` (index, level, unit_code, estimate, se, ci_lower, ci_upper,
on the published 0–100 scale). ``tests/fixtures/r/`` holds one such script and its output.

``stata_script``: Stata — reads the ``.dta`` (or ``.csv``), ``svyset`` with the final weights
(Stata has no raking in ``svyset``: its SEs ignore the calibration, see docs/results.md) and
``svy: mean``/``svy: proportion`` of each index over its units.
"""

from __future__ import annotations

from survey.results.microdata import TRIM_BOUNDS, Microdata, PublishedIndex
from survey.results.statistics import CI_LEVEL

AGE_ORDER = ("18-29", "30-44", "45-59", "60+")


def _r_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _r_read(data_file: str) -> str:
    if data_file.endswith(".sav"):
        return f"d <- as.data.frame(haven::zap_labels(haven::read_sav({_r_string(data_file)})))"
    if data_file.endswith(".dta"):
        return f"d <- as.data.frame(haven::zap_labels(haven::read_dta({_r_string(data_file)})))"
    return (
        f'd <- read.csv({_r_string(data_file)}, fileEncoding = "UTF-8-BOM",\n'
        '              colClasses = c(stratum = "character", district = "character",\n'
        '                             street = "character", community = "character",\n'
        '                             station = "character"))'
    )


def _r_index_call(index: PublishedIndex) -> list[str]:
    name = _r_string(index.name)
    if index.kind == "composite":
        columns = "c(" + ", ".join(_r_string(c) for c in index.columns) + ")"
        weights = "c(" + ", ".join(repr(w) for w in index.weights) + ")"
        return [f"composite({_r_string(index.id)}, {name}, {columns}, {weights})"]
    function = "share" if index.kind == "share" else "score"
    department = f", department = {_r_string(index.department)}" if index.department else ""
    return [
        f"{function}({_r_string(index.id)}, {name}, {_r_string(index.columns[0])}, "
        f"{_r_string(level)}{department})"
        for level in index.levels
    ]


def r_script(md: Microdata, data_file: str, margins_file: str) -> str:
    """The R script for ``md`` exported as ``data_file`` with its ``margins_file``."""
    output = data_file.rsplit(".", 1)[0] + "-r-results.csv"
    lower, upper = TRIM_BOUNDS
    calls = [line for index in md.indices for line in _r_index_call(index)]
    trim = (
        f"""
# 修剪：调整系数（权重 / 基础权重）限制在 [{lower:g}, {upper:g}]，截断后再耙权，直到两者同时满足
lo <- {lower!r} * d$base_weight
hi <- {upper!r} * d$base_weight
for (round in 1:50) {{
  w <- weights(des)
  if (!any(w < lo * (1 - 1e-6) | w > hi * (1 + 1e-6))) break
  d$start_weight <- pmin(pmax(w, lo), hi)
  des <- rake_to_margins(svydesign(ids = ~psu, strata = ~stratum, weights = ~start_weight, data = d))
}}
"""
        if md.summary.trimmed
        else "\n# 本期修剪未能与边际同时满足，平台采用未修剪的耙权（见「加权方法」）\n"
    )
    return f"""# 平安测评 {md.wave.programme_name} {md.wave.month}：用 R survey 复算公布的各项指标
# 由 `survey results export {md.wave.month} --microdata --with-script r` 生成。
# 在导出文件所在的目录运行：Rscript {data_file.rsplit(".", 1)[0]}.R
# 需要 R 包 survey（4.1 及以上）{"与 haven" if not data_file.endswith(".csv") else ""}。
# 输出 {output}：index, level, unit_code, estimate, se, ci_lower, ci_upper（公布口径：比例 ×100）。

suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "fail")

{_r_read(data_file)}
m <- read.csv({_r_string(margins_file)}, fileEncoding = "UTF-8-BOM", colClasses = "character")
m$population <- as.numeric(m$population)

# 耙权的两个边际：区县×性别、区县×年龄段（登记表的成年人口）
d$cell_sex <- paste(d$district, c("M", "F")[d$sex])
d$cell_age <- paste(d$district, c({", ".join(_r_string(a) for a in AGE_ORDER)})[d$age_group])
by_sex <- m[m$sex != "", ]
by_age <- m[m$age_group != "", ]
pop_sex <- data.frame(cell_sex = paste(by_sex$district, by_sex$sex), Freq = by_sex$population)
pop_age <- data.frame(cell_age = paste(by_age$district, by_age$age_group), Freq = by_age$population)

rake_to_margins <- function(design) {{
  rake(design, list(~cell_sex, ~cell_age), list(pop_sex, pop_age),
       control = list(maxit = 1000, epsilon = 1e-13))
}}

# 设计：PSU = 受访者，分层 = 样本的层（无则区县），放回抽样；从基础权重出发耙权
des <- rake_to_margins(svydesign(ids = ~psu, strata = ~stratum, weights = ~base_weight, data = d))
{trim}
# 复算的权重与平台的最终权重一致
stopifnot(max(abs(weights(des) / d$weight - 1)) < 1e-6)
cat("最终权重与导出的 weight 的最大相对差：", format(max(abs(weights(des) / d$weight - 1))), "\\n")

df_design <- degf(des)
level_q <- {CI_LEVEL!r}
results <- list()
add <- function(rows) results[[length(results) + 1]] <<- rows

domain <- function(column, level) {{
  des$variables$.y <- des$variables[[column]]
  des$variables$.u <- des$variables[[level]]
  subset(des, !is.na(.y) & !is.na(.u) & .u != "")
}}

# 比例（安全感、知晓率）：加权比例，logit 区间，自由度为各单位自己的 degf
share <- function(id, name, column, level) {{
  sub <- domain(column, level)
  est <- svyby(~.y, ~.u, sub, svymean, na.rm = TRUE)
  # svyglm warns that the zero weights outside the domain do not count: harmless
  ci <- suppressWarnings(svyby(~.y, ~.u, sub, svyciprop, method = "logit", level = level_q,
                               vartype = "ci", na.rm = TRUE))
  add(data.frame(index = id, level = level, unit_code = as.character(est$.u),
                 estimate = 100 * coef(est), se = 100 * SE(est),
                 ci_lower = 100 * ci$ci_l, ci_upper = 100 * ci$ci_u))
}}

# 分数（满意度，各部门）：加权均值，t 区间，自由度为全设计的 degf
score <- function(id, name, column, level, department = "") {{
  sub <- domain(column, level)
  est <- svyby(~.y, ~.u, sub, svymean, na.rm = TRUE)
  ci <- confint(est, level = level_q, df = df_design)
  code <- as.character(est$.u)
  out_level <- level
  if (department != "") {{
    code <- paste0(code, "/", department)
    out_level <- "department"
  }}
  add(data.frame(index = id, level = out_level, unit_code = code,
                 estimate = coef(est), se = SE(est), ci_lower = ci[, 1], ci_upper = ci[, 2]))
}}

# 综合满意度：各部门均值的加权和 Σ a_d·(Σw·y_d / Σw·1[答了 d])，按区县；svycontrast 求标准误
composite <- function(id, name, columns, a) {{
  v <- des$variables
  k <- seq_along(columns)
  for (j in k) {{
    v[[paste0(".n", j)]] <- ifelse(is.na(v[[columns[j]]]), 0, v[[columns[j]]])
    v[[paste0(".d", j)]] <- as.numeric(!is.na(v[[columns[j]]]))
  }}
  dd <- des
  dd$variables <- v
  num <- as.formula(paste("~", paste0(".n", k, collapse = " + ")))
  den <- as.formula(paste("~", paste0(".d", k, collapse = " + ")))
  q <- qt(1 - (1 - level_q) / 2, df_design)
  for (u in sort(unique(v$district))) {{
    r <- svyratio(num, den, subset(dd, district == u), covmat = TRUE)
    cf <- svycontrast(r, setNames(a, paste0(".n", k, "/.d", k)))
    est <- unname(coef(cf))
    se <- unname(SE(cf))
    add(data.frame(index = id, level = "district", unit_code = u,
                   estimate = est, se = se, ci_lower = est - q * se, ci_upper = est + q * se))
  }}
}}

{chr(10).join(calls)}

out <- do.call(rbind, results)
write.csv(format(out, digits = 15), {_r_string(output)}, row.names = FALSE, fileEncoding = "UTF-8")
print(out, digits = 6, row.names = FALSE)
"""


def _stata_index(index: PublishedIndex) -> list[str]:
    lines: list[str] = [f"* {index.id}：{index.name}"]
    if index.kind == "composite":
        # svy: mean of several variables drops every row with one missing: not the platform's
        # per-department bases; the R script computes the composite.
        lines.append("* 综合指数按部门分别取有效回答，svy: mean 多变量会整行删除，请用 R 脚本复算")
        return lines
    command = "proportion" if index.kind == "share" else "mean"
    column = index.columns[0]
    for level in index.levels:
        lines.append(f"svy, subpop(if !missing({column})): {command} {column}, over({level}_n)")
    return lines


def stata_script(md: Microdata, data_file: str) -> str:
    """The Stata do-file for ``md`` exported as ``data_file`` (.dta; final weights, see the
    module doc)."""
    if not data_file.endswith(".dta"):
        raise ValueError("Stata 脚本读 .dta 文件，请用 --format dta")
    body = [line for index in md.indices for line in _stata_index(index)]
    return f"""* 平安测评 {md.wave.programme_name} {md.wave.month}：用 Stata 复算公布的各项指标
* 由 `survey results export {md.wave.month} --microdata --format dta --with-script stata` 生成；
* 需要 Stata 14 及以上。用导出的最终权重（weight）：svyset 不记得耙权，标准误与平台的
* （计入耙权）略有不同；比例的区间用全设计的自由度（平台与 R 用各单位自己的），见 docs/results.md。
version 14
use "{data_file}", clear
encode stratum, generate(stratum_n)
encode district, generate(district_n)
encode street, generate(street_n)
encode station, generate(station_n)
svyset psu [pweight = weight], strata(stratum_n) vce(linearized)

{chr(10).join(body)}
"""


def script_file(md: Microdata, language: str, data_file: str, margins_file: str) -> tuple[str, str]:
    """``(text, file name)`` of the ``r`` or ``stata`` script beside ``data_file``."""
    stem = data_file.rsplit(".", 1)[0]
    if language == "r":
        return r_script(md, data_file, margins_file), f"{stem}.R"
    if language == "stata":
        return stata_script(md, data_file), f"{stem}.do"
    raise ValueError(f"不支持的脚本语言 {language}（r、stata）")

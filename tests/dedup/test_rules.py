"""The pair rules on the failure classes found by reading real pairs (see etl/dedup/rules.py).

Each test builds two stories the way the judged Reuters pairs look and asks the
rules whether they are one report. No database: the rules are pure functions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from etl.config import DedupConfig
from etl.dedup.evidence import canonical_tokens, context_of, text_evidence
from etl.dedup.features import shared_shingles, text_features
from etl.dedup.rules import Pair, changed_figure, judge
from etl.text import dedup_text

CFG = DedupConfig()
T0 = datetime(1987, 3, 2, 10, 0, tzinfo=UTC)

COPPER = (
    "Magma Copper Co, a subsidiary of Newmont Mining Corp, said it is lowering its copper cathode price "
    "by {cut} cent to 65.50 cents a pound, effective immediately. The company said the new price is "
    "for full carload lots delivered to customers in the United States."
)
DIVIDEND = "Qtly div 30 cts vs 30 cts prior\nPay April 15\nRecord March 20"
REPO = (
    "The Federal Reserve entered the government securities market to arrange {amount} of customer "
    "repurchase agreements, a Fed spokesman said. Dealers said federal funds were trading at 6-1/16 "
    "pct when the Fed began its temporary and indirect supply of reserves to the banking system."
)


def story(title: str, body: str, when: datetime | None = T0):
    compared = dedup_text(body)
    return text_features(compared, CFG.shingle_size), context_of(title, when, text_evidence(compared))


def pair(a, b, cfg: DedupConfig = CFG) -> Pair:
    (ta, ca), (tb, cb) = a, b
    return Pair(ta, tb, ca, cb, shared_shingles(ta, tb), cfg)


def test_figures_are_compared_in_canonical_form() -> None:
    def figures(text: str) -> list[str]:
        return [t for t, is_figure in canonical_tokens(text) if is_figure]

    assert figures("2,000 tonnes") == figures("2000 tonnes") == ["2000"]
    assert figures("ten ships") == figures("10 ships") == ["10"]
    assert figures("6-1/16 pct") == figures("6.0625 pct")
    assert figures("0.50 cent") == figures("0.5 cent")
    assert figures("at 9:40 A.M.") == figures("at 0940 hrs") == ["t0940"]
    assert figures("one billion dlrs") != figures("two billion dlrs")


def test_a_figure_written_as_a_word_is_a_change_and_its_spelling_is_not() -> None:
    one = story("", REPO.format(amount="one billion dlrs"))
    two = story("", REPO.format(amount="two billion dlrs"))
    spelled = story("", REPO.format(amount="1 billion dlrs"))
    assert changed_figure(one[1], two[1])
    assert judge(pair(one, two)) is None  # other figures under no shared headline: two reports
    assert not changed_figure(one[1], spelled[1])
    assert judge(pair(one, spelled)) is not None


def test_fractions_and_decimals_that_differ_are_changes() -> None:
    quarter = story("", COPPER.format(cut="0.25"))
    half = story("", COPPER.format(cut="0.50"))
    assert changed_figure(quarter[1], half[1])  # "25" standing elsewhere does not hide the change
    wide = story("", REPO.format(amount="1.5 billion dlrs").replace("6-1/16", "6-3/16"))
    narrow = story("", REPO.format(amount="1.5 billion dlrs"))
    assert changed_figure(wide[1], narrow[1])


def test_the_same_template_on_another_day_is_another_report() -> None:
    monday = story("MAGMA LOWERS COPPER PRICE 0.25 CT", COPPER.format(cut="0.25"))
    next_week = story("MAGMA LOWERS COPPER PRICE 0.50 CT", COPPER.format(cut="0.50"), T0 + timedelta(days=6))
    assert judge(pair(monday, next_week)) is None


def test_a_word_for_word_bulletin_on_another_day_is_another_report() -> None:
    text = REPO.format(amount="1.5 billion dlrs")
    day1 = story("FED ADDS RESERVES VIA CUSTOMER REPURCHASES", text)
    day3 = story("FED ADDS RESERVES VIA CUSTOMER REPURCHASES", text, T0 + timedelta(days=2))
    resent = story("FED ADDS RESERVES VIA CUSTOMER REPURCHASES", text, T0 + timedelta(hours=1))
    assert judge(pair(day1, day3)) is None
    assert judge(pair(day1, resent)) == ("jaccard", 1.0)


def test_the_same_notice_for_another_company_is_another_report() -> None:
    affiliated = story("AFFILIATED PUBLICATIONS INC <AFP> SETS PAYOUT", DIVIDEND)
    standard = story("STANDARD MOTOR PRODUCTS INC <SMP> SETS PAYOUT", DIVIDEND, T0 + timedelta(hours=3))
    again = story("J.P. STEVENS AND CO <AFP> IN PAYOUT", DIVIDEND, T0 + timedelta(hours=3))
    assert judge(pair(affiliated, standard)) is None  # other ticker
    assert judge(pair(affiliated, again)) is not None  # same ticker: the notice filed twice


def test_a_corrected_reissue_is_the_same_story_even_with_the_figure_it_fixes() -> None:
    first = story("GANTOS INC <GTOS> 4TH QTR NET", "Shr 41 cts vs 35 cts\nNet 2,101,000 vs 1,782,000")
    corrected = story(
        "CORRECTED - GANTOS INC <GTOS> 4TH QTR NET",
        "Shr 44 cts vs 35 cts\nNet 2,101,000 vs 1,782,000\n(corrects share figure in first line)",
        T0 + timedelta(hours=20),
    )
    assert corrected[1].correction and not first[1].correction
    assert judge(pair(first, corrected)) is not None


def test_one_results_table_filed_twice_in_another_layout_is_one_release() -> None:
    net = story(
        "ACADEMY INSURANCE GROUP INC <ACIG> 4TH QTR",
        "Shr profit 12 cts vs loss 40 cts\nNet profit 1,234,000 vs loss 3,456,000\nRevs 45.6 mln vs 40.1 mln",
    )
    oper = story(
        "ACADEMY INSURANCE GROUP INC <ACIG> 4TH QTR",
        "Oper shr profit 12 cts vs loss 40 cts\nOper net profit 1,234,000 vs loss 3,456,000\n"
        "Revs 45.6 mln vs 40.1 mln\nNOTE: Net includes gains of 200,000 dlrs.",
        T0 + timedelta(hours=2),
    )
    assert judge(pair(net, oper)) == ("headline", 1.0)


def test_price_bulletins_under_one_headline_are_separate_snapshots() -> None:
    ten = story(
        "CBT CORN SPREADS", "MAY/JULY 2-1/4 under 2-1/2\nJULY/SEPT 3-3/4 over 3-1/2\nSEPT/DEC 9 under 8"
    )
    eleven = story(
        "CBT CORN SPREADS",
        "MAY/JULY 1-3/4 under 2\nJULY/SEPT 4-1/4 over 4\nSEPT/DEC 10 under 9-1/2",
        T0 + timedelta(hours=1),
    )
    assert judge(pair(ten, eleven)) is None


def test_sibling_updates_that_each_add_a_paragraph_are_one_story() -> None:
    original = (
        "Chrysler Corp said it will idle its Sterling Heights plant for two weeks starting Monday because "
        "of slow sales of its compact cars, laying off 3,400 workers. The company said the plant has run "
        "on a reduced schedule since January and inventories stand at 85 days, well above its target.\n\n"
        "A spokesman said the company expected sales to pick up in the spring, when dealers usually see "
        "more customers, and that the workers would receive most of their pay under the union contract. "
        "He said no decision had been made on the other assembly plants, which build larger cars.\n\n"
        "Industry analysts said the compact car market had been weak for several months as buyers waited "
        "for new models, and that other makers had also cut production to bring stocks into line."
    )
    union = "The union said it would meet the company on April 3 to discuss 120 jobs."
    analysts = "Analysts said the move would cut first quarter output by 7,500 cars at 2 plants."
    first = story("", original + "\n\n" + union)
    second = story("", original + "\n\n" + analysts)
    assert not changed_figure(first[1], second[1])  # new paragraphs, not figures changed in place
    assert judge(pair(first, second)) is not None


def test_without_context_rules_only_the_texts_decide() -> None:
    from dataclasses import replace

    affiliated = story("AFFILIATED PUBLICATIONS INC <AFP> SETS PAYOUT", DIVIDEND)
    standard = story("STANDARD MOTOR PRODUCTS INC <SMP> SETS PAYOUT", DIVIDEND)
    assert judge(pair(affiliated, standard, replace(CFG, context_rules=False))) is not None

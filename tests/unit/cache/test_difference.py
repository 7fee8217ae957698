"""The word-by-word check of semantic hits, on WordNet's real database files."""

from __future__ import annotations

import pytest

from runtime.cache._difference import (
    SAME_WORDS_BONUS,
    VERB_SWAP_PENALTY,
    Change,
    difference,
)
from runtime.cache._keys import key_text
from runtime.cache._lexicon import lexicon
from runtime.cache._roles import direction_reversed


def test_the_lexicon_reads_synonyms_and_parts_of_speech() -> None:
    words = lexicon()
    assert {"yearly", "annual"} <= words.synonyms("annual")
    assert "charge" in words.synonyms("billed")  # inflected form, through morphy's rules
    assert "buy" in words.synonyms("bought")  # irregular form, through the exception list
    assert words.synonyms("qwertyuiop") == frozenset()
    assert words.is_mostly_verb("update")
    assert not words.is_mostly_verb("customer")
    assert words.commonest_reading("screens") == "n"
    assert words.commonest_reading("qwertyuiop") is None
    assert words.party("suppliers") == "person"
    assert words.party("Team") == "group"
    assert words.party("invoice") is None
    assert words.party("update") is None  # a verb first, and its first noun sense no party


@pytest.mark.parametrize(
    ("query", "cached", "change"),
    [
        ("How can I download my invoices?", "How do I download my invoices?", Change.NONE),
        ("Can I get a refund on my yearly plan?", "Is a refund possible on my annual plan?",
         Change.NONE),  # synonyms
        ("Is my supplier liable?", "Does my supplier have liability?", Change.NONE),  # family
        ("Where is my hardware order?", "Where is my order?", Change.ADDED),
        ("How do I restore my deleted workspace?", "How do I delete my workspace?",
         Change.VERB_ADDED),
        ("How can I update the billing address?", "How do I change the billing address?",
         Change.VERBS_SWAPPED),
        ("How can I switch the app language?", "How do I change the app language?",
         Change.REPHRASED),  # verbs matched as WordNet synonyms: an action rephrased
        ("How do I edit a comment I posted?", "How do I delete a comment I posted?",
         Change.REPHRASED),  # synonyms in a sense the question does not mean, no bonus
        ("After I cancel, what happens to my data?", "What happens to my data after I cancel?",
         Change.REPHRASED),  # the same words in another order, no slot around them
        ("Do you encrypt my data at rest?", "Is my data encrypted at rest?",
         Change.NONE),  # the passive moves a verb, not a thing
        ("How do I move from yearly to monthly billing?",
         "How do I move from monthly to yearly billing?", Change.SWAPPED),  # exchanged
        ("The stand monitor arrived broken", "The monitor stand arrived broken",
         Change.SWAPPED),  # "stand" is mostly a verb, but in the same form on both sides
        ("Can I use two accounts on the same computer?",
         "Can I use the same account on two computers?", Change.SWAPPED),
        ("How do I delete a comment someone else posted?",
         "How do I delete a comment I posted?", Change.SWAPPED),  # whose comment
        ("How can I enable dark mode?", "How do I activate dark mode?", Change.VERBS_SWAPPED),
        ("How do I enable dark mode?", "How do I activate dark mode?",
         Change.SWAPPED),  # one verb for one in an otherwise identical question
        ("Can I recover files from an archived workspace?",
         "Can I recover files from a deleted workspace?", Change.SWAPPED),  # "an" is "a"
        ("Can my team set a spending limit for me?", "Can I set a spending limit for my team?",
         Change.REVERSED),  # who sets a limit for whom
        ("Can others share their screen during my call?", "Can I share my screen during a call?",
         Change.REVERSED),  # the asker is the subject on one side only
        ("How do I add a tag to a project?", "How do I add a tag to a task?",
         Change.SWAPPED),  # a thing for a thing, though WordNet calls them synonyms
        ("How do I change the color of a label?", "How do I change the colour of a label?",
         Change.NONE),  # one word family
        ("Is there a limit on the number of projects per task?",
         "Is there a limit on the number of tasks per project?",
         Change.SWAPPED),  # after a determiner "project" names a thing, not an action
        ("How do I change the font in the editor?", "How do I change the font size in the editor?",
         Change.SWAPPED),  # a word inside one text only, and it changes the thing
        ("Why did my password reset link stop working?", "Why did my password stop working?",
         Change.SWAPPED),  # the words inserted are followed by a verb, not a thing they describe
        ("Hi there, why did my password stop working?", "Why did my password stop working?",
         Change.ADDED),  # words around the question, not inside it
        ("Are dented screens covered under warranty?", "Does the warranty cover a cracked screen?",
         Change.REWORDED),  # participles before a thing describe it: qualities, not actions
        ("Are broken screens covered under warranty?", "Does the warranty cover a cracked screen?",
         Change.REPHRASED),  # "broken" is a form of "break", a synonym of "cracked"
        ("Where can I find my receipt for March?", "How do I get a copy of my receipt for March?",
         Change.REWORDED),  # the opening reworded, no shared word before it: not a slot
        ("Can I get an email whenever a file is shared?",
         "Can I get an email when a file is shared?", Change.NONE),  # "whenever" is framing
        ("Can you tell me where my hardware order is?", "Where is my hardware order?",
         Change.NONE),  # "me" on one side, but nothing reordered
        ("What happens if I reduce my storage quota?",
         "What happens if I exceed my storage quota?", Change.SWAPPED),
        ("How do I change my shipping address?", "How do I change my billing address?",
         Change.SWAPPED),
        ("Can I turn off 2FA?", "Can I turn off two-factor authentication?",
         Change.NONE),  # the abbreviation spelled out
        ("Can I move my data to the US region?", "Can I move my data to the EU region?",
         Change.SWAPPED),  # "US" is an acronym here, not the pronoun
        ("Is the customer liable?", "Is the supplier liable?", Change.SWAPPED),
        ("Is the notice period in the side letter?", "Is the notice period in this contract?",
         Change.SWAPPED),  # one slot, filled with two words against one
        ("Can I pay with a credit card?", "Can I pay by bank transfer?", Change.SWAPPED),
        ("What is the delivery time for my parcel?", "How long does my parcel take to arrive?",
         Change.REWORDED),  # several words each side, no words alike before or after them
        ("Which fee applies to a late payment?", "How much do you charge when I pay late?",
         Change.REWORDED),
        ("Is priority support part of the Pro plan?", "Does the Pro plan include priority support?",
         Change.REWORDED),  # one word each side ("part" / "include"), but no slot around them
        ("Do you take daily backups of my data?", "Is my data backed up every day?",
         Change.REWORDED),
        ("How do I delete a task list?", "How do I delete a task?",
         Change.SWAPPED),  # a noun added at the end: the compound's head, another thing
        ("How do I delete a task? Thanks", "How do I delete a task?",
         Change.ADDED),  # a new sentence after the question is no head
        ("Can the supplier audit the customer's usage?",
         "Can the customer audit the supplier's security?", Change.REVERSED),  # who audits whom
        ("Can I pay invoices before they are approved?",
         "Can I approve invoices before they are paid?",
         Change.REVERSED),  # the two actions exchanged around "before"
        ("Can I see a calendar someone outside my company shared with me?",
         "Can I share a calendar with someone outside my company?",
         Change.REVERSED),  # the asker shares on one side, is shared with on the other
        ("Why did the desktop application log me off?", "Why was I logged out of the desktop app?",
         Change.REWORDED),  # the asker is the object on both sides: "was I logged" is passive
        ("Can the supplier's security be audited by the customer?",
         "Can the customer audit the supplier's security?",
         Change.REPHRASED),  # the passive names the parties in the other order
        ("Can I delete a restored workspace?", "Can I restore a deleted workspace?",
         Change.SWAPPED),  # what is done and what it was done to trade forms and places
        ("Can the customer suspend payment for failures?",
         "Can the supplier suspend the service for non-payment?",
         Change.REVERSED),  # the customer acts on one side, the supplier on the other
        ("I did not receive the invite from my teammate", "My teammate did not receive the invite",
         Change.REVERSED),  # the asker acts on one side, a teammate on the other
        ("Why can't I see my guests' calendars?", "Why can't my guests see the calendar?",
         Change.REVERSED),  # the asker's guests act on one side only
        ("We arrive early, can we check in before 2pm?", "Can guests check in before 2 pm?",
         Change.REWORDED),  # an asker may be a guest
        ("Who pays for the source code escrow?", "Who holds the source code in escrow?",
         Change.SWAPPED),  # a verb that moves money for one that moves none
        ("Why is the app charging me in dollars?", "Why is the app showing me dollars?",
         Change.SWAPPED),  # dollars are no word of paying
        ("Do you accept PayPal?", "Can I pay with PayPal?",
         Change.VERBS_SWAPPED),  # paying with something names how
        ("Is additional storage paid?", "Do you charge for extra storage?",
         Change.VERBS_SWAPPED),  # money on both sides
        ("Are we allowed to hold back payment we dispute?",
         "Can the customer withhold payment for disputed invoices?",
         Change.REWORDED),  # "we" are the customer
        ("Why is my heating off when the thermostat is on?",
         "Why is my heating on when the thermostat is off?",
         Change.SWAPPED),  # which one is on, exchanged
        ("Can I use your SMTP server for outgoing emails?",
         "Can I use my own SMTP server for outgoing emails?",
         Change.SWAPPED),  # the service's server against the asker's own
        ("Can I pick up a parcel from a PO box?", "Can I send a parcel to a PO box?",
         Change.REVERSED),  # the parcel moves the other way
        ("Can I see the budget for each project?", "Can I set a budget for each project?",
         Change.SWAPPED),  # one word for one word, whatever the determiners
        ("How do I transfer my domain from you to another registrar?",
         "How do I transfer my domain to you from another registrar?",
         Change.REVERSED),  # where it moves from and where to, exchanged
        ("What are the consequences of using my overdraft?",
         "What happens if I go into my overdraft?",
         Change.VERB_ADDED),  # "the consequences of" doing it: what happens if it is done
        ("Why can't I buy a course I found?", "Why can't I find a course I bought?",
         Change.SWAPPED),  # what was done and what is asked, traded: irregular verbs too
        ("Do I have to pay the return shipping?", "Who pays for shipping on returns?",
         Change.NONE),  # the same words in another order and form: no verb traded
        ("How do I link my controller to my console?", "How do I link my console to my account?",
         Change.SWAPPED),  # a synonym by its own form: "accountant" is no "account"
        ("Can my landlord sublet my apartment?", "Can I sublet my apartment?",
         Change.REVERSED),  # the landlord acts on one side, the asker on the other
        ("Can I get a refund if the airline cancels my flight?",
         "Can I get a refund if I cancel my flight?",
         Change.REVERSED),  # who acts in the condition: the airline, or the asker
        ("What happens if my rent payment is a few days late?",
         "Is there a late fee if I pay rent after the due date?",
         Change.REWORDED),  # the asker's own payment is the asker's doing
        ("The mobile app crashes when I open it", "The mobile app crashes on startup",
         Change.NONE),  # what happens when it is opened happens on startup
        ("Can I buy a domain from you?", "Can I use my own domain?",
         Change.SWAPPED),  # the service's domain against the asker's own
        ("Where are your servers located, inside the European Union?",
         "Is my data stored in the EU?",
         Change.REWORDED),  # "your" and "my" alone, no "own": a rewording
    ],
)  # fmt: skip
def test_content_words_are_lined_up(query: str, cached: str, change: Change) -> None:
    assert difference(query, cached).change is change


def test_the_names_of_key_inputs_are_not_context_two_questions_share() -> None:
    query, cached = "How can I stop my plan from renewing?", "How do I turn off auto-renewal?"
    assert difference(query, cached).change is Change.REWORDED  # nothing alike around it
    keyed = difference(key_text([("question", query)]), key_text([("question", cached)]))
    assert keyed.change is Change.REWORDED  # "question: " on both is no shared context


def test_the_acting_party_is_read_past_the_key_inputs_name() -> None:
    query = "Can the customer suspend payment for failures?"
    cached = "Can the supplier suspend the service for non-payment?"
    keyed = difference(key_text([("question", query)]), key_text([("question", cached)]))
    assert keyed.change is Change.REVERSED


def test_the_correction_follows_the_change() -> None:
    same = difference("How can I export my data?", "How do I export my data?")
    assert same.adjusted(0.75) == pytest.approx(0.75 + SAME_WORDS_BONUS)
    verbs = difference("How can I enable dark mode?", "How do I activate dark mode?")
    assert verbs.adjusted(0.9) == pytest.approx(0.9 - VERB_SWAP_PENALTY)
    added = difference("Where is my hardware order?", "Where is my order?")
    assert added.adjusted(0.85) == pytest.approx(0.85)
    reworded = difference(
        "What is the delivery time for my parcel?", "How long does my parcel take to arrive?"
    )
    assert reworded.adjusted(0.85) == pytest.approx(0.85)
    assert reworded.slot is None
    rephrased = difference("How can I switch the language?", "How do I change the language?")
    assert rephrased.adjusted(0.81) == pytest.approx(0.81)
    swapped = difference("Send the report daily", "Send the report weekly")
    assert swapped.adjusted(0.99) is None
    assert swapped.query_only == ("daily",) and swapped.cached_only == ("weekly",)
    reversed_roles = difference("Can people invite me?", "Can I invite people?")
    assert reversed_roles.adjusted(0.99) is None
    exchanged = difference("Move me from yearly to monthly", "Move me from monthly to yearly")
    assert exchanged.adjusted(0.99) is None
    assert exchanged.slot == ("yearly to monthly", "monthly to yearly")


def test_a_move_told_in_another_order_keeps_its_direction() -> None:
    told = "How do I move a task to the team board from my list?"
    assert not direction_reversed("How do I move a task from my list to the team board?", told)
    assert direction_reversed("How do I move a task from the team board to my list?", told)

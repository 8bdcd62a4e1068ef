"""Prompts of the real-model golden fixtures (scripts/reference/real_model_goldens.py), written for this project.

Each slot lists candidates in order of preference: the generator keeps the first whose greedy path has no near-tie
(top-2 log-prob gap above the threshold at every step). A chat candidate is a message list, a raw one a string.
The long raw prompts are long on purpose: ≥ 300 tokens so Brigade's chunked prefill is exercised, and Gemma's is
past its 512-token sliding window so the window's edge is exercised too.
"""

LONG_PYTHON = '''"""Inventory bookkeeping for a small warehouse.

Items are stored in bins. Each bin has a code such as "A-03-2" (aisle, shelf, slot) and holds
any number of items of a single product. The functions below keep a running ledger so that
every change to a bin can be audited later.
"""
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Entry:
    """One change to a bin: a positive quantity is a delivery, a negative one a pick."""

    bin_code: str
    product: str
    quantity: int
    when: datetime = field(default_factory=datetime.now)


@dataclass
class Bin:
    code: str
    product: str | None = None
    quantity: int = 0


class Warehouse:
    """All bins of one warehouse, with the ledger of every change."""

    def __init__(self, codes):
        self.bins = {code: Bin(code) for code in codes}
        self.ledger = []

    def deliver(self, code, product, quantity):
        """Put `quantity` items of `product` into bin `code`."""
        if quantity <= 0:
            raise ValueError("a delivery needs a positive quantity")
        b = self.bins[code]
        if b.product not in (None, product):
            raise ValueError(f"bin {code} already holds {b.product}")
        b.product = product
        b.quantity += quantity
        self.ledger.append(Entry(code, product, quantity))

    def pick(self, code, quantity):
        """Take `quantity` items out of bin `code`; the bin is emptied of its product at zero."""
        b = self.bins[code]
        if quantity <= 0 or quantity > b.quantity:
            raise ValueError(f"cannot pick {quantity} from bin {code} holding {b.quantity}")
        b.quantity -= quantity
        self.ledger.append(Entry(code, b.product, -quantity))
        if b.quantity == 0:
            b.product = None

    def stock(self, product):
        """Total quantity of `product` over all bins."""
        return sum(b.quantity for b in self.bins.values() if b.product == product)

    def history(self, code):
        """Every ledger entry of bin `code`, oldest first."""
        return [e for e in self.ledger if e.bin_code == code]

    def empty_bins(self):
        """Codes of the bins that hold nothing, sorted."""
        return sorted(code for code, b in self.bins.items() if b.quantity == 0)

    def busiest_bin(self):
        """The code of the bin with the most ledger entries."""
        counts = {}
        for e in self.ledger:
            counts[e.bin_code] = counts.get(e.bin_code, 0) + 1
'''

LONG_PYTHON_SHORTER = LONG_PYTHON.rsplit("    def busiest_bin", 1)[0] + '''    def products(self):
        """The set of products held in at least one bin."""
'''

LONG_PROSE = """The lighthouse at Carrow Point was built in 1861, after a winter in which three ships were lost on the reef \
that runs out from the headland. The first keeper was a retired sailor named Thomas Elby, who lived in the small \
stone cottage at the foot of the tower with his wife and their four children. Every evening at sunset he climbed \
the one hundred and twelve steps to the lamp room, trimmed the wicks, polished the great glass lens and lit the \
lamp. Every morning at sunrise he climbed the steps again to put it out. In between he wrote in the logbook: the \
weather, the ships that passed, the hours the lamp had burned and the oil it had used.

The logbooks survive. They fill forty volumes in the town library, and they tell the story of the point better \
than any history. In the early years the entries are short and careful, written in a round, patient hand. There \
are storms that lasted a week, when the spray reached the lamp room windows. There are summers so calm that the \
keeper had time to paint the railings twice. There is a note, in the spring of 1874, that a whale had come into \
the bay and stayed for three days, and that half the town had walked out to the cliffs to see it.

Thomas Elby kept the light for thirty-one years. His eldest daughter, Margaret, kept it after him for another \
twenty-six. She was the first to write about the fog signal, a steam horn installed in 1889, which she disliked \
because it frightened the goats. She also wrote about the wreck of the schooner Alba, which struck the reef in a \
gale in November 1893 despite the light. Margaret rowed out with two fishermen and brought back five of the \
seven crew. The town gave her a silver watch for it, and the watch is now in a glass case beside the logbooks.

In 1921 the lamp was converted from oil to electricity, and the work of the keepers changed. There were fewer \
climbs and more repairs: the generator, the cables, the motor that turned the lens. The last keeper, a quiet \
man called Peter Hollis, left in 1968, when the light was made automatic. Since then it has been checked once a \
month by an engineer who drives out from the city, and the cottage has been a small museum.

Visitors to the museum can climb the tower on summer afternoons. The steps are steep and narrow, and there is a \
rope along the wall to hold on to. At the top, the lamp room is much smaller than most people expect. The lens \
still turns, slowly, even in daylight. From the gallery outside, on a clear day, you can see the whole of the \
reef, the line of white water where the waves break over it, and beyond it the open sea.

The museum keeps a list of the keepers on a board by the door. It reads, in order: Thomas Elby, 1861 to 1892; \
Margaret Elby, 1892 to 1918; John Carne, 1918 to 1935; William Tresize, 1935 to 1952; and Peter Hollis, 1952 to \
1968. Below the list, someone has written the months the tower is open to visitors: May, June, July,"""

PROMPTS = {
    "qwen2.5-coder": [
        ("chat-square", "chat", [
            [{"role": "user", "content": "Write a Python function that returns the square of a number."}],
            [{"role": "user", "content": "Write a Python one-liner that reverses a string s."}],
        ]),
        ("chat-git", "chat", [
            [{"role": "user", "content": "What does `git status` show? Answer in one sentence."}],
            [{"role": "user", "content": "What is the capital of France?"}],
        ]),
        ("raw-fibonacci", "raw", [
            'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n',
            "def is_prime(n):\n    if n < 2:\n        return False\n",
        ]),
        ("raw-warehouse", "raw", [LONG_PYTHON, LONG_PYTHON_SHORTER]),
    ],
    "gemma3": [
        ("chat-france", "chat", [
            [{"role": "user", "content": "What is the capital of France?"}],
            [{"role": "user", "content": "What is the capital of Japan?"}],
        ]),
        ("chat-colors", "chat", [
            [{"role": "user", "content": "Name the three primary colors."}],
            [{"role": "user", "content": "How many days are there in a week?"}],
        ]),
        ("raw-story", "raw", [
            "Once upon a time, there was a little robot who",
            "The capital of France is",
        ]),
        ("raw-lighthouse", "raw", [LONG_PROSE, LONG_PROSE.rsplit(" May,", 1)[0] + " January, February,"]),
    ],
}

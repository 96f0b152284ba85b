"""Parametric problems with known answers, and their diagrams drawn with Pillow."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Callable

from PIL import Image, ImageDraw

SUBJECTS = ("geometry", "physics", "chemistry", "finance", "biology", "engineering")

Draw = Callable[[ImageDraw.ImageDraw, random.Random], None]


@dataclass
class Problem:
    subject: str
    question: str
    steps: list[str]
    answer: str
    diagram: Draw | None = None
    uid: str = field(default="")


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _right_triangle(rng: random.Random) -> Problem:
    a, b = rng.randint(3, 40), rng.randint(3, 40)
    c = math.hypot(a, b)

    def draw(d: ImageDraw.ImageDraw, r: random.Random) -> None:
        x0, y0 = 60, 230
        w, h = 60 + a * 6, 30 + b * 4
        d.polygon([(x0, y0), (x0 + w, y0), (x0, y0 - h)], outline="black", width=3)
        d.rectangle([x0, y0 - 14, x0 + 14, y0], outline="black")
        d.text((x0 + w // 2, y0 + 6), f"{a} cm", fill="black")
        d.text((x0 - 45, y0 - h // 2), f"{b} cm", fill="black")
        d.text((x0 + w // 2 + 8, y0 - h // 2 - 10), "c", fill="blue")

    return Problem(
        "geometry",
        f"A right triangle has legs of {a} cm and {b} cm, as shown in the figure. Find the length of the hypotenuse c.",
        [f"By the Pythagorean theorem, c^2 = {a}^2 + {b}^2 = {a * a + b * b}.", f"So c = sqrt({a * a + b * b}) = {_fmt(c)}."],
        f"{_fmt(c)} cm",
        draw,
    )


def _circle_area(rng: random.Random) -> Problem:
    r_ = rng.randint(2, 60)

    def draw(d: ImageDraw.ImageDraw, r: random.Random) -> None:
        cx, cy, rad = 180 + r.randint(-40, 40), 130, 40 + r_ % 60
        d.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], outline="black", width=3)
        d.line([cx, cy, cx + rad, cy], fill="red", width=2)
        d.text((cx + rad // 3, cy - 16), f"r = {r_}", fill="red")

    return Problem(
        "geometry",
        f"The circle in the diagram has radius {r_} m. What is its area? Use pi = 3.14.",
        [f"Area = pi r^2 = 3.14 x {r_}^2 = 3.14 x {r_ * r_}."],
        f"{_fmt(3.14 * r_ * r_)} m^2",
        draw,
    )


def _projectile(rng: random.Random) -> Problem:
    v, t = rng.randint(5, 60), rng.randint(2, 9)
    g = 9.8
    h = v * t - 0.5 * g * t * t

    def draw(d: ImageDraw.ImageDraw, r: random.Random) -> None:
        pts = [(40 + i * 28, 230 - int(150 * math.sin(math.pi * i / 10))) for i in range(11)]
        d.line(pts, fill="black", width=3)
        d.line([40, 230, 40, 200], fill="blue", width=3)
        d.text((50, 190), f"v0 = {v} m/s", fill="blue")

    return Problem(
        "physics",
        f"A ball is thrown straight up with an initial speed of {v} m/s. Taking g = 9.8 m/s^2, what is its height after {t} s?",
        [f"h = v0 t - g t^2 / 2 = {v} x {t} - 4.9 x {t * t}.", f"h = {_fmt(v * t)} - {_fmt(4.9 * t * t)} = {_fmt(h)}."],
        f"{_fmt(h)} m",
        draw,
    )


def _ohm_series(rng: random.Random) -> Problem:
    r1, r2, volts = rng.randint(2, 90), rng.randint(2, 90), rng.choice([6, 9, 12, 24, 48])
    current = volts / (r1 + r2)

    def draw(d: ImageDraw.ImageDraw, r: random.Random) -> None:
        d.rectangle([50, 60, 310, 210], outline="black", width=2)
        for x0, label in ((110, f"R1={r1}"), (220, f"R2={r2}")):
            d.rectangle([x0, 50, x0 + 50, 70], fill="white", outline="black", width=2)
            d.text((x0, 30), label, fill="black")
        d.line([40, 120, 60, 120], fill="black", width=4)
        d.text((70, 130), f"{volts} V", fill="black")

    return Problem(
        "engineering",
        f"Two resistors of {r1} ohm and {r2} ohm are connected in series to a {volts} V battery, as in the circuit shown. "
        "Calculate the current in the circuit.",
        [f"The total resistance is {r1} + {r2} = {r1 + r2} ohm.", f"I = V / R = {volts} / {r1 + r2}."],
        f"{_fmt(current)} A",
        draw,
    )


def _moles(rng: random.Random) -> Problem:
    compound, molar = rng.choice([("NaCl", 58.44), ("H2O", 18.02), ("CO2", 44.01), ("CaCO3", 100.09), ("NH3", 17.03)])
    mass = rng.randint(5, 500)

    def draw(d: ImageDraw.ImageDraw, r: random.Random) -> None:
        d.polygon([(130, 60), (230, 60), (250, 230), (110, 230)], outline="black", width=3)
        level = min(226, 230 - mass % 150)  # some liquid shows even when mass % 150 is 0
        d.rectangle([118, level, 242, 228], fill=(150, 190, 240))
        d.text((140, 40), f"{mass} g {compound}", fill="black")

    return Problem(
        "chemistry",
        f"How many moles are in {mass} g of {compound}? The molar mass of {compound} is {molar} g/mol.",
        [f"n = m / M = {mass} / {molar}."],
        f"{_fmt(mass / molar)} mol",
        draw,
    )


def _compound_interest(rng: random.Random) -> Problem:
    p, rate, years = rng.choice([500, 1000, 2000, 2500, 5000, 10000]), rng.randint(2, 12), rng.randint(2, 15)
    amount = p * (1 + rate / 100) ** years

    def draw(d: ImageDraw.ImageDraw, r: random.Random) -> None:
        d.line([40, 230, 330, 230], fill="black", width=2)
        d.line([40, 230, 40, 30], fill="black", width=2)
        for i in range(years):
            height = int(180 * (1 + rate / 100) ** i / (1 + rate / 100) ** years)
            x0 = 50 + i * (270 // years)
            d.rectangle([x0, 230 - height, x0 + max(4, 200 // years), 230], fill=(90, 160, 90))

    return Problem(
        "finance",
        f"An investment of ${p} earns {rate}% interest compounded annually. The chart shows its growth. What is it worth after {years} years?",
        [f"A = P (1 + r)^t = {p} x (1 + {rate / 100})^{years}."],
        f"${amount:.2f}",
        draw,
    )


def _simple_interest(rng: random.Random) -> Problem:
    p, rate, years = rng.randint(10, 900) * 10, rng.randint(1, 15), rng.randint(1, 12)
    return Problem(
        "finance",
        f"Find the simple interest earned on a loan of ${p} at {rate}% per year for {years} years.",
        [f"I = P r t = {p} x {rate / 100} x {years}."],
        f"${p * rate * years / 100:.2f}",
    )


def _punnett(rng: random.Random) -> Problem:
    trait, dom, rec = rng.choice([("flower colour", "purple", "white"), ("seed shape", "round", "wrinkled"),
                                  ("pod colour", "green", "yellow"), ("height", "tall", "short")])
    letter = rng.choice("ABDEGHKLMNPRT")
    cross = rng.choice([("Aa", "Aa", "25"), ("Aa", "aa", "50"), ("AA", "aa", "0")])
    p1, p2, share = cross[0].replace("A", letter).replace("a", letter.lower()), cross[1].replace("A", letter).replace("a", letter.lower()), cross[2]

    def draw(d: ImageDraw.ImageDraw, r: random.Random) -> None:
        for i in range(3):
            d.line([100, 50 + i * 80, 260, 50 + i * 80], fill="black", width=2)
            d.line([100 + i * 80, 50, 100 + i * 80, 210], fill="black", width=2)
        d.text((130, 25), "   ".join(p1), fill="black")
        d.text((70, 80), "\n\n\n\n".join(p2), fill="black")

    return Problem(
        "biology",
        f"In pea plants the {trait} allele {letter} ({dom}) is dominant over {letter.lower()} ({rec}). "
        f"Using the Punnett square, what percentage of the offspring of a {p1} x {p2} cross will be {rec}?",
        ["Fill the Punnett square with the gametes of each parent.", f"Offspring that are {letter.lower()}{letter.lower()} show the recessive trait."],
        f"{share}%",
        draw,
    )


def _population(rng: random.Random) -> Problem:
    n0, hours, doubling = rng.randint(10, 900), rng.choice([2, 3, 4, 6, 8]), rng.choice([1, 2])
    return Problem(
        "biology",
        f"A bacterial culture starts with {n0} cells and doubles every {doubling} hour(s). How many cells are there after {hours} hours?",
        [f"The culture doubles {hours // doubling} times.", f"N = {n0} x 2^{hours // doubling}."],
        f"{n0 * 2 ** (hours // doubling)} cells",
    )


def _density(rng: random.Random) -> Problem:
    m, v = rng.randint(20, 990), rng.randint(5, 400)
    return Problem(
        "physics",
        f"A metal block has a mass of {m} g and a volume of {v} cm^3. Calculate its density.",
        [f"Density = mass / volume = {m} / {v}."],
        f"{_fmt(m / v)} g/cm^3",
    )


def _beam(rng: random.Random) -> Problem:
    load, length = rng.randint(2, 80) * 10, rng.randint(2, 12)

    def draw(d: ImageDraw.ImageDraw, r: random.Random) -> None:
        d.rectangle([40, 120, 320, 135], fill=(120, 120, 120))
        d.polygon([(40, 135), (25, 165), (55, 165)], outline="black", width=2)
        d.polygon([(320, 135), (305, 165), (335, 165)], outline="black", width=2)
        d.line([180, 60, 180, 118], fill="red", width=4)
        d.text((188, 70), f"{load} N", fill="red")
        d.text((160, 170), f"L = {length} m", fill="black")

    return Problem(
        "engineering",
        f"A simply supported beam of length {length} m carries a point load of {load} N at mid-span, as drawn. Determine the reaction at each support.",
        ["By symmetry both supports carry half the load.", f"R = {load} / 2."],
        f"{_fmt(load / 2)} N",
        draw,
    )


def _dilution(rng: random.Random) -> Problem:
    c1, v1, v2 = rng.randint(1, 12), rng.randint(10, 200), rng.randint(250, 2000)
    return Problem(
        "chemistry",
        f"A {v1} mL sample of {c1} M HCl is diluted to {v2} mL. What is the new concentration?",
        [f"C1 V1 = C2 V2, so C2 = {c1} x {v1} / {v2}."],
        f"{c1 * v1 / v2:.3f} M",
    )


def _rectangle_perimeter(rng: random.Random) -> Problem:
    w, h = rng.randint(2, 90), rng.randint(2, 90)
    return Problem(
        "geometry",
        f"A rectangular garden is {w} m long and {h} m wide. What length of fence is needed to go around it?",
        [f"Perimeter = 2 (l + w) = 2 x ({w} + {h})."],
        f"{2 * (w + h)} m",
    )


def _power(rng: random.Random) -> Problem:
    volts, amps = rng.choice([5, 12, 24, 110, 230]), rng.randint(1, 40) / 2
    return Problem(
        "engineering",
        f"A heater draws {_fmt(amps)} A from a {volts} V supply. Calculate the electrical power it uses.",
        [f"P = V I = {volts} x {_fmt(amps)}."],
        f"{_fmt(volts * amps)} W",
    )


GENERATORS: dict[str, tuple[Callable[[random.Random], Problem], ...]] = {
    "geometry": (_right_triangle, _circle_area, _rectangle_perimeter),
    "physics": (_projectile, _density),
    "chemistry": (_moles, _dilution),
    "finance": (_compound_interest, _simple_interest),
    "biology": (_punnett, _population),
    "engineering": (_ohm_series, _beam, _power),
}


_ILLUSTRATED = {g for gens in GENERATORS.values() for g in gens if g(random.Random(0)).diagram is not None}


def make_problem(subject: str, rng: random.Random, with_diagram: bool) -> Problem:
    pool = [g for g in GENERATORS[subject] if (g in _ILLUSTRATED) == with_diagram]
    return rng.choice(pool)(rng)


def render_diagram(problem: Problem, rng: random.Random, size: tuple[int, int] = (360, 260)) -> Image.Image:
    """Draw the problem's figure on squared paper with randomly shaded cells.

    The shading differs per figure, which keeps perceptual hashes of figures of the
    same kind far apart, as photographs and scans of real worksheets are.
    """
    image = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(image)
    cell = 20
    for x in range(0, size[0], cell):
        for y in range(0, size[1], cell):
            if rng.random() < 0.35:
                shade = rng.randint(170, 235)
                d.rectangle([x, y, x + cell, y + cell], fill=(shade, shade, rng.randint(200, 250)))
    for x in range(0, size[0], cell):
        d.line([x, 0, x, size[1]], fill=(215, 225, 240))
    for y in range(0, size[1], cell):
        d.line([0, y, size[0], y], fill=(215, 225, 240))
    assert problem.diagram is not None
    problem.diagram(d, rng)
    return image

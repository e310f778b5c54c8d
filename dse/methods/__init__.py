"""The papers' methods, as applications of the core: multi-resolution term training
(``multires``), complexity-aware bit allocation (``allocate``) and Mix-and-Match row-wise
SP2/fixed mixing (``msq``). The study never imports them; a method that scores
candidates registers itself as a fidelity (``dse.study.fidelity``)."""

"""The web dashboard (seed 000's Test Runs pages): server-rendered pages over the query service.

``install`` adds the pages to the app that hosts the query routes; they call ``QueryService``
in process, so a page and the REST answer it shows never disagree.
"""

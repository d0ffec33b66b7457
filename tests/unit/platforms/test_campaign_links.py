"""The one campaign rule every adapter applies to the places a platform records a visit."""

from __future__ import annotations

from commerce_sync.platforms.campaign_links import Campaign, Landing, campaign_of


def test_one_landing_url_gives_all_three_fields() -> None:
    url = "/collections/mugs?mc_cid=c0ffee1234&mc_eid=abc&mc_tc=prec"

    assert campaign_of(Landing(url=url)) == Campaign("c0ffee1234", "prec", url)


def test_an_id_kept_beside_the_url_wins_over_the_urls_own() -> None:
    landing = Landing(url="/?mc_cid=fromurl", campaign_id="kept", tracked=True)

    assert campaign_of(landing) == Campaign("kept", "prec", "/?mc_cid=fromurl")


def test_landings_are_read_most_trusted_first_field_by_field() -> None:
    first = Landing(url="https://shop.example.com/")  # a visit without a campaign
    second = Landing(url="https://shop.example.com/old?mc_cid=second&mc_tc=prec")

    assert campaign_of(first, second) == Campaign("second", "prec", "https://shop.example.com/")


def test_nothing_known_is_no_campaign() -> None:
    assert campaign_of() == Campaign()
    utm_only = "/?utm_source=mailchimp"
    assert campaign_of(Landing(), Landing(url=utm_only)) == Campaign(landing_site=utm_only)


def test_a_malformed_url_carries_no_campaign_but_stays_the_landing_site() -> None:
    url = "http://[::1/?mc_cid=abc&mc_tc=prec"

    assert campaign_of(Landing(url=url)) == Campaign(landing_site=url)
